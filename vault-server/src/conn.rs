//! Connections: the accept loop under a per-IP and a global connection cap,
//! HTTP/1 from hyper with a header-read timeout, an idle timeout on every
//! connection that is not working on a request, and graceful shutdown.
//! (`axum::serve` has none of the timeouts or caps: a client could hold a
//! connection open for ever without sending a byte.)
//!
//! - **Caps**: a connection past `max_connections_per_ip` from its peer's
//!   address, or past `max_connections` in all, is closed at accept and
//!   counted in `vault_connections_refused_total`. Trusted proxies carry
//!   many clients: they are held only to the global cap.
//! - **Header-read timeout** (hyper's): from the moment a connection waits
//!   for a request, its whole head must arrive within `header_timeout`; so
//!   this is also how long a kept-alive connection may sit idle.
//! - **Idle timeout** ([`IdleIo`]): when no handler is working on one of
//!   its requests and it is not a WebSocket, a connection whose bytes stop
//!   moving either way for `idle_timeout` (a client that stops reading its
//!   response) is closed. Handlers' own waits (long polls) do not count,
//!   and WebSockets have their own keepalive.

use crate::metrics::ConnRefusal;
use crate::state::AppState;
use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use axum::serve::Listener;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::watch;
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

/// Header lines hyper parses before it answers 431 on its own (without
/// the JSON envelope); the head check refuses more than
/// [`crate::middleware::MAX_HEADERS`] with it first.
const HYPER_MAX_HEADERS: usize = 1000;

/// What every connection is held to.
#[derive(Debug, Clone)]
pub struct ConnLimits {
    /// A request's head must arrive within this of the connection waiting
    /// for it.
    pub header_timeout: Duration,
    /// Bytes still for this long, with no request in a handler: closed.
    pub idle_timeout: Duration,
    /// Connections from one address (0: no cap).
    pub max_per_ip: usize,
    /// Connections in all (0: no cap).
    pub max_total: usize,
    /// Peers held only to the global cap (trusted proxies).
    pub uncapped: Vec<IpAddr>,
}

impl ConnLimits {
    /// The limits of a server's configuration.
    pub fn of(config: &crate::Config) -> ConnLimits {
        let l = &config.limits;
        ConnLimits {
            header_timeout: Duration::from_secs(l.header_timeout_secs),
            idle_timeout: Duration::from_secs(l.idle_timeout_secs),
            max_per_ip: l.max_connections_per_ip,
            max_total: l.max_connections,
            uncapped: config.trusted_proxies.clone(),
        }
    }
}

/// Connections open now, in all and per address.
#[derive(Debug, Default)]
struct Open {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// Admits connections under the caps.
struct Tracker {
    open: Mutex<Open>,
    limits: ConnLimits,
    state: AppState,
}

/// An admitted connection's place under the caps, given back on drop.
struct Permit {
    tracker: Arc<Tracker>,
    ip: IpAddr,
}

impl Tracker {
    fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Permit, ConnRefusal> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let l = &self.limits;
        if l.max_total != 0 && open.total >= l.max_total {
            return Err(ConnRefusal::Global);
        }
        let from_ip = open.per_ip.get(&ip).copied().unwrap_or(0);
        if l.max_per_ip != 0 && from_ip >= l.max_per_ip && !l.uncapped.contains(&ip) {
            return Err(ConnRefusal::PerIp);
        }
        open.total += 1;
        *open.per_ip.entry(ip).or_default() += 1;
        self.state.metrics().connection(true);
        Ok(Permit {
            tracker: self.clone(),
            ip,
        })
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let t = &self.tracker;
        let mut open = t.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.total = open.total.saturating_sub(1);
        if let Some(n) = open.per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.per_ip.remove(&self.ip);
            }
        }
        t.state.metrics().connection(false);
    }
}

/// Serves `app` on the connections `listener` accepts until `shutdown`
/// resolves; then stops accepting, lets each connection finish the
/// request it is on, and returns when all are closed.
pub async fn serve_connections<L>(
    mut listener: L,
    app: Router,
    state: AppState,
    shutdown: impl Future<Output = ()>,
) where
    L: Listener<Addr = SocketAddr>,
{
    let limits = ConnLimits::of(state.config());
    let tracker = Arc::new(Tracker {
        open: Mutex::new(Open::default()),
        limits: limits.clone(),
        state: state.clone(),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    // Each connection holds a receiver: `closed` resolves when all ended.
    let (done_tx, done_rx) = watch::channel(());
    tokio::pin!(shutdown);
    loop {
        let (io, addr) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let permit = match tracker.admit(addr.ip()) {
            Ok(permit) => permit,
            Err(why) => {
                // Dropping the stream closes it.
                state.metrics().connection_refused(why);
                tracing::debug!(client = %addr.ip(), ?why, "connection refused at its cap");
                continue;
            }
        };
        tokio::spawn(connection(
            io,
            addr,
            app.clone(),
            limits.clone(),
            permit,
            stop_rx.clone(),
            done_rx.clone(),
        ));
    }
    drop(listener);
    let _ = stop_tx.send(true);
    drop(done_rx);
    done_tx.closed().await;
}

/// Serves one connection until it closes (or, once the server stops,
/// until its request in flight is answered).
async fn connection<I>(
    io: I,
    addr: SocketAddr,
    app: Router,
    limits: ConnLimits,
    permit: Permit,
    mut stop: watch::Receiver<bool>,
    _done: watch::Receiver<()>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = Arc::new(Activity::default());
    let io = TokioIo::new(IdleIo::new(io, limits.idle_timeout, activity.clone()));
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let mut req = req.map(axum::body::Body::new);
        req.extensions_mut().insert(ConnectInfo(addr));
        let busy = Busy::enter(&activity);
        let app = app.clone();
        async move {
            let response = app.oneshot(req).await;
            if let Ok(r) = &response
                && r.status() == StatusCode::SWITCHING_PROTOCOLS
            {
                busy.upgraded();
            }
            response
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_headers(HYPER_MAX_HEADERS);
    let conn = builder.serve_connection(io, service).with_upgrades();
    tokio::pin!(conn);
    let stopping = async move {
        // The guard `wait_for` returns is dropped at once (it is not Send).
        let _ = stop.wait_for(|s| *s).await.is_ok();
    };
    let ended = tokio::select! {
        ended = conn.as_mut() => ended,
        () = stopping => {
            conn.as_mut().graceful_shutdown();
            conn.as_mut().await
        }
    };
    if let Err(e) = ended {
        tracing::debug!(client = %addr.ip(), error = %e, "connection ended");
    }
    drop(permit);
}

/// What a connection is doing: requests in a handler, and whether it
/// became a WebSocket.
#[derive(Debug, Default)]
struct Activity {
    busy: AtomicUsize,
    upgraded: AtomicBool,
}

impl Activity {
    /// Whether the idle timeout is off for now.
    fn exempt(&self) -> bool {
        self.busy.load(Ordering::Relaxed) > 0 || self.upgraded.load(Ordering::Relaxed)
    }
}

/// A request in a handler; dropped when its response head is ready.
struct Busy(Arc<Activity>);

impl Busy {
    fn enter(activity: &Arc<Activity>) -> Busy {
        activity.busy.fetch_add(1, Ordering::Relaxed);
        Busy(activity.clone())
    }

    /// The response switched protocols: a WebSocket from now on.
    fn upgraded(&self) {
        self.0.upgraded.store(true, Ordering::Relaxed);
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A stream that fails with `TimedOut` when no byte has moved either way
/// for its idle time while its connection is not exempt (see
/// [`Activity::exempt`]); the failure makes hyper close the connection.
struct IdleIo<T> {
    inner: T,
    idle: Duration,
    timer: Pin<Box<Sleep>>,
    activity: Arc<Activity>,
    /// Exempt when last polled: the idle time starts when that ends.
    was_exempt: bool,
}

impl<T> IdleIo<T> {
    fn new(inner: T, idle: Duration, activity: Arc<Activity>) -> IdleIo<T> {
        IdleIo {
            inner,
            idle,
            timer: Box::pin(tokio::time::sleep(idle)),
            activity,
            was_exempt: false,
        }
    }

    /// Bytes moved: the idle time starts again.
    fn touch(&mut self) {
        self.timer.as_mut().reset(Instant::now() + self.idle);
    }

    /// Whether the idle time ran out (registering for its end if not).
    fn timed_out(&mut self, cx: &mut Context<'_>) -> bool {
        if self.activity.exempt() {
            self.was_exempt = true;
            return false;
        }
        if self.was_exempt {
            self.was_exempt = false;
            self.touch();
        }
        self.timer.as_mut().poll(cx).is_ready()
    }

    /// `inner`'s poll result, or `TimedOut` in place of a pending one.
    fn watch<R>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<R>>,
    ) -> Poll<io::Result<R>> {
        match polled {
            Poll::Pending if self.timed_out(cx) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the connection was idle too long",
            ))),
            Poll::Pending => Poll::Pending,
            ready => {
                self.touch();
                ready
            }
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for IdleIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        this.watch(cx, polled)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for IdleIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.watch(cx, polled)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.watch(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_flush(cx);
        this.watch(cx, polled)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test(start_paused = true)]
    async fn a_stream_idle_past_its_time_fails_unless_its_connection_is_busy() {
        let activity = Arc::new(Activity::default());
        let (client, server) = tokio::io::duplex(64);
        let mut io = IdleIo::new(server, Duration::from_secs(5), activity.clone());
        let mut client = client;
        // Bytes that move keep it alive.
        for _ in 0..3 {
            tokio::time::advance(Duration::from_secs(4)).await;
            client.write_all(b"x").await.unwrap();
            let mut b = [0u8; 1];
            io.read_exact(&mut b).await.unwrap();
        }
        // A handler at work: no timeout however long.
        let busy = Busy::enter(&activity);
        let read = tokio::time::timeout(Duration::from_secs(60), io.read_u8()).await;
        assert!(
            read.is_err(),
            "the read waited (the outer timeout ended it)"
        );
        drop(busy);
        // Idle: the read fails with TimedOut after 5 s.
        let started = Instant::now();
        let e = io.read_u8().await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), Duration::from_secs(5));
        // A WebSocket is never idle-timed.
        activity.upgraded.store(true, Ordering::Relaxed);
        let read = tokio::time::timeout(Duration::from_secs(60), io.read_u8()).await;
        assert!(read.is_err());
    }
}

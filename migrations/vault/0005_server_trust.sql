-- 0005: how the device authenticates its circle's server over TLS. None of
-- it is secret: a private CA's certificates (PEM), the SHA-256 of a
-- certificate an invite code pinned, and whether plain http to a
-- non-loopback address was explicitly allowed.
ALTER TABLE circle ADD COLUMN tls_ca_pem TEXT;
ALTER TABLE circle ADD COLUMN tls_cert_pin BLOB CHECK (tls_cert_pin IS NULL OR length(tls_cert_pin) = 32);
ALTER TABLE circle ADD COLUMN allow_insecure_http INTEGER NOT NULL DEFAULT 0 CHECK (allow_insecure_http IN (0, 1));

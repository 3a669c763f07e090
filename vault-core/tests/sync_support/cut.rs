//! Removing a device at a cut in the in-memory circle, as `vault peer rm`
//! and the real server do it.

use super::Circle;
use vault_core::ShareEpochs;
use vault_core::circle::{EntryBody, PeerId};

impl Circle {
    /// Device `by` removes device `who` at a cut: syncs, prepares the
    /// removal, and appends it (with its list and the new epoch's shares)
    /// only while the zone is still at the cut, as the server does.
    /// Returns the cut's seq, or `None` when the zone moved past it.
    pub fn remove_at_cut(&mut self, by: usize, who: usize) -> Option<u64> {
        self.sync(by).unwrap();
        let peer = self.devices[who].vault.peer_id();
        let mut conn = self.conn(by);
        let prepared = self.devices[by]
            .vault
            .prepare_removal(&peer, &mut conn)
            .unwrap();
        let EntryBody::Removal { cuts, .. } = &prepared.entry.entry().body else {
            panic!("not a removal entry");
        };
        let cut_seq = cuts[0].token_seq;
        if self.server.borrow().seq != cut_seq {
            return None;
        }
        let mut shares = Vec::new();
        let others: Vec<(usize, PeerId)> = self
            .devices
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != by && *i != who)
            .map(|(i, d)| (i, d.vault.peer_id()))
            .filter(|(_, p)| self.members().contains(p))
            .collect();
        for (i, peer) in others {
            let share = self.devices[by]
                .vault
                .seal_share(&peer, ShareEpochs::Pending(&prepared.pending))
                .unwrap();
            shares.push((i, share));
        }
        let seq = prepared.entry.entry().seq;
        {
            let mut s = self.server.borrow_mut();
            s.log.push(prepared.entry.clone());
            for (zone, list) in &prepared.lists {
                s.cuts.insert((seq, zone.clone()), list.clone());
            }
        }
        self.refresh(by);
        for (i, share) in shares {
            self.refresh(i);
            self.devices[i].vault.install_shares(&[share]).unwrap();
        }
        Some(cut_seq)
    }
}

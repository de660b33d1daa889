//! Turns by key: at most one holder per key at a time, the others waiting asynchronously (a
//! waiting task holds no thread). Keys live only while someone holds or waits for them.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use tokio::sync::OwnedMutexGuard;

#[derive(Debug)]
pub struct Turns<K> {
    gates: Mutex<HashMap<K, Arc<tokio::sync::Mutex<()>>>>,
}

impl<K> Default for Turns<K> {
    fn default() -> Self {
        Self { gates: Mutex::default() }
    }
}

/// A turn for one key; the next waiter for it goes on when this is dropped.
#[derive(Debug)]
pub struct Turn<'a, K: Hash + Eq> {
    turns: &'a Turns<K>,
    key: K,
    gate: Arc<tokio::sync::Mutex<()>>,
    guard: Option<OwnedMutexGuard<()>>,
}

impl<K: Hash + Eq + Clone> Turns<K> {
    /// Waits for `key`'s turn.
    pub async fn take(&self, key: &K) -> Turn<'_, K> {
        let gate = self.gates().entry(key.clone()).or_default().clone();
        let guard = gate.clone().lock_owned().await;
        Turn { turns: self, key: key.clone(), gate, guard: Some(guard) }
    }

    /// Keys held or waited for now.
    pub fn len(&self) -> usize {
        self.gates().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn gates(&self) -> std::sync::MutexGuard<'_, HashMap<K, Arc<tokio::sync::Mutex<()>>>> {
        self.gates.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<K: Hash + Eq> Drop for Turn<'_, K> {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut gates = self.turns.gates.lock().unwrap_or_else(|e| e.into_inner());
        // The map's reference and ours: nobody else waits, so the key goes.
        if Arc::strong_count(&self.gate) == 2 {
            gates.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn one_holder_per_key_others_keys_go_on_and_keys_are_forgotten() {
        let turns = Arc::new(Turns::<u32>::default());
        let first = turns.take(&1).await;
        let waiter = {
            let turns = turns.clone();
            tokio::spawn(async move {
                let _t = turns.take(&1).await;
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished(), "key 1 is held");
        drop(turns.take(&2).await); // another key goes at once
        drop(first);
        waiter.await.unwrap();
        assert!(turns.is_empty(), "no key left once nobody holds or waits");
    }
}

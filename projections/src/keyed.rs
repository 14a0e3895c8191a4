//! `Keyed`: the map of the read models that are only ever looked up by key (members,
//! households, policies, usage counters, claim indexes). A hash map, because a tree of string
//! ids follows a pointer to compare at every level (a cache miss each on a large model) where a
//! hash map hashes the key once; rendered in key order, so a model's `Debug` text, and with
//! it its digest, is the same as with an ordered map.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;
use std::hash::Hash;

#[derive(Clone, serde::Serialize, serde::Deserialize)]
#[serde(bound(
    serialize = "K: serde::Serialize + Eq + Hash, V: serde::Serialize",
    deserialize = "K: serde::Deserialize<'de> + Eq + Hash, V: serde::Deserialize<'de>"
))]
#[serde(transparent)]
pub struct Keyed<K, V>(HashMap<K, V, foldhash::fast::RandomState>);

impl<K: Eq + Hash, V: PartialEq> PartialEq for Keyed<K, V> {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl<K: Eq + Hash, V: Eq> Eq for Keyed<K, V> {}

impl<K, V> Default for Keyed<K, V> {
    fn default() -> Self {
        Keyed(HashMap::default())
    }
}

impl<K: Eq + Hash, V> Keyed<K, V> {
    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        self.0.get(key)
    }

    pub fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        self.0.get_mut(key)
    }

    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        self.0.contains_key(key)
    }

    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        self.0.insert(key, value)
    }

    pub fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        self.0.remove(key)
    }

    pub fn retain(&mut self, keep: impl FnMut(&K, &mut V) -> bool) {
        self.0.retain(keep);
    }

    pub fn entry(&mut self, key: K) -> Entry<'_, K, V> {
        self.0.entry(key)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Values in no particular order (for order-free folds such as counts).
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.0.values()
    }

    /// Entries in no particular order (for order-free folds such as sums).
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.0.iter()
    }

    /// Entries in key order (for listings).
    pub fn sorted(&self) -> Vec<(&K, &V)>
    where
        K: Ord,
    {
        let mut entries: Vec<(&K, &V)> = self.0.iter().collect();
        entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
        entries
    }
}

impl<K: Eq + Hash + Borrow<Q>, Q: Eq + Hash + ?Sized, V> std::ops::Index<&Q> for Keyed<K, V> {
    type Output = V;

    fn index(&self, key: &Q) -> &V {
        &self.0[key]
    }
}

/// Entries in key order, exactly as a `BTreeMap` renders them.
impl<K: Eq + Hash + Ord + fmt::Debug, V: fmt::Debug> fmt::Debug for Keyed<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.sorted()).finish()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn renders_like_an_ordered_map() {
        let pairs = [("m-3", 3), ("m-1", 1), ("m-2", 2), ("m-10", 10)];
        let keyed: Keyed<String, i32> = {
            let mut k = Keyed::default();
            for (key, v) in pairs {
                k.insert(key.to_owned(), v);
            }
            k
        };
        let ordered: BTreeMap<String, i32> =
            pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect();
        assert_eq!(format!("{keyed:?}"), format!("{ordered:?}"));
        assert_eq!(format!("{keyed:#?}"), format!("{ordered:#?}"));
        assert_eq!(keyed["m-10"], 10);
    }
}

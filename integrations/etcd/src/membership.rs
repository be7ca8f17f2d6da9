//! The registry's view (key → entry) and the router's view (name → weight,
//! state), and the changes that take the second to the first.

use std::collections::BTreeMap;
use std::sync::Arc;

use ringroute::router::Change;

use crate::client::{Event, KeyValue};
use crate::format::{Entry, ValueFormat};

/// Weight and up/down of a node as the router holds it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct NodeView {
    pub weight: f64,
    pub up: bool,
}

/// One change, described for logs and subscribers.
#[derive(Clone, Debug, PartialEq)]
pub enum MemberChange {
    /// A node joined.
    Added {
        /// Its name.
        name: String,
        /// Its weight.
        weight: f64,
        /// Whether it is up.
        up: bool,
    },
    /// A node left.
    Removed {
        /// Its name.
        name: String,
    },
    /// A node's weight changed.
    Reweighted {
        /// Its name.
        name: String,
        /// The old weight.
        from: f64,
        /// The new weight.
        to: f64,
    },
    /// A node was marked up or down.
    State {
        /// Its name.
        name: String,
        /// `true`: up.
        up: bool,
    },
}

impl std::fmt::Display for MemberChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MemberChange::Added { name, weight, up } => write!(
                f,
                "+ {name} weight {weight}{}",
                if *up { "" } else { " (down)" }
            ),
            MemberChange::Removed { name } => write!(f, "- {name}"),
            MemberChange::Reweighted { name, from, to } => {
                write!(f, "~ {name} weight {from} -> {to}")
            }
            MemberChange::State { name, up } => {
                write!(f, "~ {name} {}", if *up { "up" } else { "down" })
            }
        }
    }
}

pub(crate) struct Membership {
    prefix: String,
    format: Arc<dyn ValueFormat>,
    /// The registry's entries that parsed, by key.
    by_key: BTreeMap<Vec<u8>, Entry>,
    /// What the router holds.
    pub applied: BTreeMap<String, NodeView>,
    /// Bad values seen so far.
    pub bad_values: u64,
}

impl Membership {
    pub fn new(prefix: String, format: Arc<dyn ValueFormat>) -> Self {
        Membership {
            prefix,
            format,
            by_key: BTreeMap::new(),
            applied: BTreeMap::new(),
            bad_values: 0,
        }
    }

    /// Seeds the router's view (the router was built from these nodes).
    pub fn seed(&mut self, nodes: &[(String, f64)]) {
        for (name, weight) in nodes {
            self.applied.insert(
                name.clone(),
                NodeView {
                    weight: *weight,
                    up: true,
                },
            );
        }
    }

    fn parse(&mut self, key: &[u8], value: &[u8], revision: i64) -> Option<Entry> {
        let suffix = &key[self.prefix.len().min(key.len())..];
        let result = match std::str::from_utf8(suffix) {
            Ok(s) => self.format.parse(s, value),
            Err(_) => Err("key suffix is not UTF-8".into()),
        };
        match result {
            Ok(e) => e,
            Err(why) => {
                self.bad_values += 1;
                tracing::warn!(
                    key = %String::from_utf8_lossy(key),
                    revision,
                    "skipping bad registry value: {why}"
                );
                None
            }
        }
    }

    /// Replaces the registry's view with a full listing.
    pub fn relist(&mut self, kvs: &[KeyValue]) {
        self.by_key.clear();
        for kv in kvs {
            if let Some(e) = self.parse(&kv.key, &kv.value, kv.mod_revision) {
                self.by_key.insert(kv.key.clone(), e);
            }
        }
    }

    /// Folds watch events into the registry's view. A bad value makes its
    /// key absent, as a fresh listing would see it.
    pub fn fold(&mut self, events: &[Event]) {
        for ev in events {
            let entry = if ev.delete {
                None
            } else {
                self.parse(&ev.kv.key, &ev.kv.value, ev.kv.mod_revision)
            };
            match entry {
                Some(e) => self.by_key.insert(ev.kv.key.clone(), e),
                None => self.by_key.remove(&ev.kv.key),
            };
        }
    }

    /// The registry's view by name; of two keys naming the same node, the
    /// first in key order wins (every client decides alike).
    pub fn desired(&self) -> BTreeMap<String, NodeView> {
        let mut out = BTreeMap::new();
        for (key, e) in &self.by_key {
            if out.contains_key(&e.name) {
                tracing::warn!(
                    key = %String::from_utf8_lossy(key),
                    name = %e.name,
                    "two registry keys name the same node; keeping the first"
                );
                continue;
            }
            out.insert(
                e.name.clone(),
                NodeView {
                    weight: e.weight,
                    up: e.up,
                },
            );
        }
        out
    }

    /// The changes from the router's view to `desired`, and how many of
    /// them remove a node.
    pub fn diff<T: Default>(
        &self,
        desired: &BTreeMap<String, NodeView>,
    ) -> (Vec<Change<T>>, Vec<MemberChange>, usize) {
        let mut changes = Vec::new();
        let mut described = Vec::new();
        let mut removals = 0;
        for name in self.applied.keys() {
            if !desired.contains_key(name) {
                changes.push(Change::remove(name));
                described.push(MemberChange::Removed { name: name.clone() });
                removals += 1;
            }
        }
        for (name, want) in desired {
            match self.applied.get(name) {
                None => {
                    changes.push(Change::add(name, want.weight, T::default()));
                    if !want.up {
                        changes.push(Change::mark_down(name));
                    }
                    described.push(MemberChange::Added {
                        name: name.clone(),
                        weight: want.weight,
                        up: want.up,
                    });
                }
                Some(have) => {
                    if have.weight != want.weight {
                        changes.push(Change::set_weight(name, want.weight));
                        described.push(MemberChange::Reweighted {
                            name: name.clone(),
                            from: have.weight,
                            to: want.weight,
                        });
                    }
                    if have.up != want.up {
                        changes.push(if want.up {
                            Change::mark_up(name)
                        } else {
                            Change::mark_down(name)
                        });
                        described.push(MemberChange::State {
                            name: name.clone(),
                            up: want.up,
                        });
                    }
                }
            }
        }
        (changes, described, removals)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::AutoFormat;

    fn kv(key: &str, value: &str, rev: i64) -> KeyValue {
        KeyValue {
            key: key.as_bytes().to_vec(),
            value: value.as_bytes().to_vec(),
            mod_revision: rev,
            lease: 0,
        }
    }

    #[test]
    fn diff_adds_removes_reweights_and_counts_bad_values() {
        let mut m = Membership::new("svc/".into(), Arc::new(AutoFormat));
        m.seed(&[("a".into(), 1.0), ("b".into(), 1.0), ("gone".into(), 1.0)]);
        m.relist(&[
            kv("svc/a", r#"{"weight":1}"#, 2),
            kv("svc/b", r#"{"weight":3}"#, 3),
            kv("svc/c", r#"{"state":"down"}"#, 4),
            kv("svc/bad", r#"{"weight":-1}"#, 5),
        ]);
        assert_eq!(m.bad_values, 1);
        let desired = m.desired();
        let (changes, described, removals) = m.diff::<()>(&desired);
        assert_eq!(removals, 1);
        assert_eq!(changes.len(), 4, "{changes:?}"); // -gone, ~b, +c, c down
        assert!(described.contains(&MemberChange::Removed {
            name: "gone".into()
        }));
        m.applied = desired;
        m.fold(&[Event {
            delete: false,
            kv: kv("svc/a", "oops", 6),
        }]);
        assert_eq!(m.bad_values, 2);
        let (_, described, removals) = m.diff::<()>(&m.desired());
        assert_eq!(removals, 1);
        assert_eq!(described, vec![MemberChange::Removed { name: "a".into() }]);
    }

    #[test]
    fn duplicate_names_keep_the_first_key() {
        let mut m = Membership::new("p/".into(), Arc::new(AutoFormat));
        m.relist(&[
            kv("p/1", r#"{"Addr":"h:1","Metadata":{"weight":2}}"#, 2),
            kv("p/2", r#"{"address":"h:1","weight":5}"#, 3),
        ]);
        let d = m.desired();
        assert_eq!(d.len(), 1);
        assert_eq!(d["h:1"].weight, 2.0);
    }
}

//! Ordering guests. This module knows only IDs and edges: "A needs B" when A is cloned from B
//! or lists B in `dependencies`. Everything is deterministic: ties break by ascending ID.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

use crate::id::GuestId;

/// Directed graph of "needs" edges between guests: node IDs sorted ascending, each with the
/// sorted IDs it needs. Plain vectors rather than maps: a deployment builds this once per run,
/// for thousands of guests, and mostly reads it.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    ids: Vec<GuestId>,
    /// `needs[i]` = guests `ids[i]` needs (must exist before it), sorted, no repeats.
    needs: Vec<Vec<GuestId>>,
}

/// A cycle, listed from its smallest ID and closed (`950 -> 953 -> 950`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cycle(pub Vec<GuestId>);

impl std::fmt::Display for Cycle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|i| i.to_string()).collect();
        f.write_str(&parts.join(" -> "))
    }
}

impl Graph {
    pub fn new() -> Self {
        Self::default()
    }

    /// A graph of `nodes` (each with what it needs), given in ascending ID order without
    /// repeats; edges to IDs that are not nodes are dropped.
    pub fn from_sorted(nodes: impl IntoIterator<Item = (GuestId, Vec<GuestId>)>) -> Graph {
        let (ids, mut needs): (Vec<GuestId>, Vec<Vec<GuestId>>) = nodes.into_iter().unzip();
        debug_assert!(ids.windows(2).all(|w| w[0] < w[1]), "nodes must be sorted");
        for n in &mut needs {
            n.retain(|d| ids.binary_search(d).is_ok());
            n.sort_unstable();
            n.dedup();
        }
        Graph { ids, needs }
    }

    fn index(&self, id: GuestId) -> Option<usize> {
        self.ids.binary_search(&id).ok()
    }

    pub fn add_node(&mut self, id: GuestId) {
        if let Err(i) = self.ids.binary_search(&id) {
            self.ids.insert(i, id);
            self.needs.insert(i, Vec::new());
        }
    }

    /// Records that `from` needs `to`.
    pub fn add_edge(&mut self, from: GuestId, to: GuestId) {
        self.add_node(to);
        self.add_node(from);
        if let Some(i) = self.index(from) {
            if let Err(j) = self.needs[i].binary_search(&to) {
                self.needs[i].insert(j, to);
            }
        }
    }

    pub fn contains(&self, id: GuestId) -> bool {
        self.index(id).is_some()
    }

    pub fn nodes(&self) -> impl Iterator<Item = GuestId> + '_ {
        self.ids.iter().copied()
    }

    /// What `id` needs directly.
    pub fn needs(&self, id: GuestId) -> impl Iterator<Item = GuestId> + '_ {
        self.index(id)
            .map(|i| self.needs[i].as_slice())
            .unwrap_or_default()
            .iter()
            .copied()
    }

    /// `targets` and everything they need, transitively.
    pub fn closure(&self, targets: &[GuestId]) -> BTreeSet<GuestId> {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<GuestId> = targets.to_vec();
        while let Some(id) = todo.pop() {
            if seen.insert(id) {
                todo.extend(self.needs(id));
            }
        }
        seen
    }

    /// The subgraph induced by `keep`.
    pub fn restrict(&self, keep: &BTreeSet<GuestId>) -> Graph {
        Graph::from_sorted(keep.iter().map(|&id| (id, self.needs(id).collect())))
    }

    /// Every guest after everything it needs; among ready guests the smallest ID first.
    /// Fails with every cycle when there is one.
    pub fn toposort(&self) -> Result<Vec<GuestId>, Vec<Cycle>> {
        // Dense indices are in ascending ID order, so the smallest ready index is the smallest
        // ready ID.
        let n = self.ids.len();
        let mut missing: Vec<usize> = vec![0; n];
        let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (i, deps) in self.needs.iter().enumerate() {
            for d in deps {
                if let Some(j) = self.index(*d) {
                    dependents[j].push(i);
                    missing[i] += 1;
                }
            }
        }
        let mut ready: BinaryHeap<Reverse<usize>> = missing
            .iter()
            .enumerate()
            .filter(|(_, &n)| n == 0)
            .map(|(i, _)| Reverse(i))
            .collect();
        let mut order = Vec::with_capacity(n);
        while let Some(Reverse(i)) = ready.pop() {
            order.push(self.ids[i]);
            for &dep in &dependents[i] {
                missing[dep] -= 1;
                if missing[dep] == 0 {
                    ready.push(Reverse(dep));
                }
            }
        }
        if order.len() == n {
            Ok(order)
        } else {
            Err(self.cycles())
        }
    }

    /// One concrete cycle per strongly connected component that has one.
    pub fn cycles(&self) -> Vec<Cycle> {
        let ids: Vec<GuestId> = self.ids.clone();
        let index: BTreeMap<GuestId, usize> =
            ids.iter().enumerate().map(|(i, &id)| (id, i + 1)).collect();
        // toposort-scc's `scc()` walks only what vertex 0 reaches, so vertex 0 is a virtual root
        // with an edge to every guest; nothing points back at it, so it is in no cycle.
        let mut adjacency: Vec<Vec<usize>> = vec![(1..=ids.len()).collect()];
        adjacency.extend(ids.iter().map(|id| {
            self.needs(*id)
                .filter_map(|d| index.get(&d).copied())
                .collect()
        }));
        let graph = toposort_scc::IndexGraph::from_adjacency_list(&adjacency);
        let mut out = Vec::new();
        for scc in graph.scc() {
            let members: BTreeSet<GuestId> = scc
                .iter()
                .filter(|&&i| i > 0)
                .map(|&i| ids[i - 1])
                .collect();
            let Some(&start) = members.iter().next() else {
                continue;
            };
            let self_loop = self.needs(start).any(|d| d == start);
            if members.len() > 1 || self_loop {
                if let Some(c) = self.cycle_through(start, &members) {
                    out.push(c);
                }
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// A shortest path from `start` back to itself inside `members` (breadth first).
    fn cycle_through(&self, start: GuestId, members: &BTreeSet<GuestId>) -> Option<Cycle> {
        let mut prev: BTreeMap<GuestId, GuestId> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([start]);
        while let Some(n) = queue.pop_front() {
            for next in self.needs(n).filter(|d| members.contains(d)) {
                if next == start {
                    let mut path = vec![start];
                    let mut cur = n;
                    while cur != start {
                        path.push(cur);
                        cur = prev[&cur];
                    }
                    path[1..].reverse();
                    path.push(start);
                    return Some(Cycle(path));
                }
                if let std::collections::btree_map::Entry::Vacant(e) = prev.entry(next) {
                    e.insert(n);
                    queue.push_back(next);
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(edges: &[(u64, u64)]) -> Graph {
        let mut g = Graph::new();
        for &(a, b) in edges {
            g.add_edge(GuestId(a), GuestId(b));
        }
        g
    }

    #[test]
    fn toposort_puts_needs_first_and_breaks_ties_by_id() {
        let order = g(&[(950, 920), (920, 901), (901, 900), (953, 900), (950, 953)])
            .toposort()
            .unwrap();
        let ids: Vec<u64> = order.iter().map(|i| i.0).collect();
        assert_eq!(ids, vec![900, 901, 920, 953, 950]);
    }

    #[test]
    fn two_node_cycle_is_named() {
        let cycles = g(&[(950, 953), (953, 950)]).cycles();
        assert_eq!(cycles.len(), 1);
        assert_eq!(cycles[0].to_string(), "950 -> 953 -> 950");
    }

    #[test]
    fn long_cycle_is_named_in_order() {
        let cycles = g(&[(101, 102), (102, 103), (103, 104), (104, 101), (200, 101)]).cycles();
        assert_eq!(cycles[0].to_string(), "101 -> 102 -> 103 -> 104 -> 101");
        assert!(g(&[(101, 102), (102, 101)]).toposort().is_err());
    }

    #[test]
    fn cycle_not_reachable_from_the_smallest_id_is_found() {
        // 900 needs nothing; the cycle 950 <-> 953 hangs below it.
        let cycles = g(&[(950, 900), (953, 900), (950, 953), (953, 950)]).cycles();
        assert_eq!(cycles.len(), 1);
        assert_eq!(cycles[0].to_string(), "950 -> 953 -> 950");
    }

    #[test]
    fn self_loop_is_a_cycle() {
        assert_eq!(g(&[(300, 300)]).cycles()[0].to_string(), "300 -> 300");
    }
}

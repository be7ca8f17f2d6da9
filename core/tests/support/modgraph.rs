//! A module graph read from Rust sources, for `layout.rs`: every path a
//! module names through `crate::`, `super::` or `self::`, resolved through
//! re-exports to the module that defines the item, and the cycles among
//! the children of each module.
//!
//! A tokenizer, not a Rust parser: enough for paths, `use` trees, `mod`
//! items and attributes, which is all a dependency needs. Comments and
//! strings are skipped (a doc link is no dependency), and so are
//! `#[cfg(test)]` items (test code may use anything).

use std::collections::{BTreeMap, BTreeSet};

/// A module's path from the crate root (`[]` is the root).
pub type ModPath = Vec<String>;

/// Dependencies among the children of one module: child → (child it uses →
/// where it does, first seen).
pub type Graph = BTreeMap<String, BTreeMap<String, String>>;

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    /// `::`
    Sep,
    Punct(char),
}

#[derive(Clone, Debug)]
struct Token {
    tok: Tok,
    line: usize,
}

fn is_ident(t: Option<&Token>, name: &str) -> bool {
    matches!(t, Some(Token { tok: Tok::Ident(s), .. }) if s == name)
}

fn is_punct(t: Option<&Token>, c: char) -> bool {
    matches!(t, Some(Token { tok: Tok::Punct(p), .. }) if *p == c)
}

/// Identifiers, `::` and punctuation with their lines; comments, strings,
/// character literals, lifetimes and numbers dropped.
fn tokenize(src: &str) -> Vec<Token> {
    let c: Vec<char> = src.chars().collect();
    let at = |i: usize| c.get(i).copied().unwrap_or('\0');
    let (mut out, mut i, mut line) = (Vec::new(), 0, 1);
    while i < c.len() {
        let ch = c[i];
        if ch == '\n' {
            line += 1;
            i += 1;
        } else if ch.is_whitespace() {
            i += 1;
        } else if ch == '/' && at(i + 1) == '/' {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    line += usize::from(c[i] == '\n');
                    i += 1;
                }
            }
        } else if let Some(end) = raw_string_end(&c, i) {
            line += c[i..end].iter().filter(|&&x| x == '\n').count();
            i = end;
        } else if ch == '"' {
            i += 1;
            while i < c.len() && c[i] != '"' {
                if c[i] == '\\' {
                    i += 1; // the escaped character, a line break included
                }
                line += usize::from(at(i) == '\n');
                i += 1;
            }
            i += 1;
        } else if ch == '\'' {
            if at(i + 1) == '\\' {
                i += 3; // past `'\x`, so that `'\''` ends at its last quote
                while i < c.len() && c[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if at(i + 2) == '\'' {
                i += 3;
            } else {
                i += 1; // a lifetime: its name follows as an identifier
            }
        } else if ch.is_alphanumeric() || ch == '_' {
            let start = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            if !ch.is_ascii_digit() {
                let tok = Tok::Ident(c[start..i].iter().collect());
                out.push(Token { tok, line });
            }
        } else if ch == ':' && at(i + 1) == ':' {
            out.push(Token {
                tok: Tok::Sep,
                line,
            });
            i += 2;
        } else {
            out.push(Token {
                tok: Tok::Punct(ch),
                line,
            });
            i += 1;
        }
    }
    out
}

/// The end of a raw string (`r"…"`, `r#"…"#`, `br"…"`) starting at `i`.
fn raw_string_end(c: &[char], i: usize) -> Option<usize> {
    let start = match (c.get(i), c.get(i + 1)) {
        (Some('r'), _) => i + 1,
        (Some('b'), Some('r')) => i + 2,
        _ => return None,
    };
    let hashes = c[start..].iter().take_while(|&&x| x == '#').count();
    let mut j = start + hashes;
    if c.get(j) != Some(&'"') {
        return None;
    }
    j += 1;
    while j < c.len() {
        if c[j] == '"' && (1..=hashes).all(|k| c.get(j + k) == Some(&'#')) {
            return Some(j + 1 + hashes);
        }
        j += 1;
    }
    Some(c.len())
}

/// The index after the bracket group opening at `i` (`(`, `[` or `{`).
fn group_end(toks: &[Token], i: usize) -> usize {
    let mut depth = 0usize;
    for (k, t) in toks.iter().enumerate().skip(i) {
        match t.tok {
            Tok::Punct('(' | '[' | '{') => depth += 1,
            Tok::Punct(')' | ']' | '}') => {
                depth -= 1;
                if depth == 0 {
                    return k + 1;
                }
            }
            _ => {}
        }
    }
    toks.len()
}

/// The index after the item starting at `i`: its `;`, or its closing `}`.
fn item_end(toks: &[Token], i: usize) -> usize {
    let mut k = i;
    while k < toks.len() {
        match toks[k].tok {
            Tok::Punct(';') => return k + 1,
            Tok::Punct('{') => return group_end(toks, k),
            Tok::Punct('(' | '[') => k = group_end(toks, k),
            _ => k += 1,
        }
    }
    k
}

/// One path of a `use` tree: the path as written and the name it binds
/// (`None` for a glob or `as _`).
struct Use {
    path: Vec<String>,
    name: Option<String>,
}

/// Parses the use tree at `i` under `prefix`; returns the index after it.
fn use_tree(toks: &[Token], mut i: usize, prefix: Vec<String>, out: &mut Vec<Use>) -> usize {
    let mut path = prefix;
    loop {
        match toks.get(i).map(|t| &t.tok) {
            Some(Tok::Sep) => i += 1,
            Some(Tok::Punct('*')) => {
                out.push(Use { path, name: None });
                return i + 1;
            }
            Some(Tok::Punct('{')) => {
                i += 1;
                while i < toks.len() && !is_punct(toks.get(i), '}') {
                    let next = use_tree(toks, i, path.clone(), out);
                    i = next.max(i + 1);
                    if is_punct(toks.get(i), ',') {
                        i += 1;
                    }
                }
                return i + 1;
            }
            Some(Tok::Ident(s)) if s != "as" => {
                path.push(s.clone());
                i += 1;
                if !matches!(toks.get(i).map(|t| &t.tok), Some(Tok::Sep)) {
                    break;
                }
            }
            _ => break,
        }
    }
    if path.last().is_some_and(|s| s == "self") {
        path.pop();
    }
    let mut name = path.last().cloned();
    if is_ident(toks.get(i), "as") {
        name = match toks.get(i + 1).map(|t| &t.tok) {
            Some(Tok::Ident(s)) if s != "_" => Some(s.clone()),
            _ => None,
        };
        i += 2;
    }
    out.push(Use { path, name });
    i
}

/// A path some module names, and where.
#[derive(Clone, Debug)]
struct Ref {
    from: ModPath,
    path: Vec<String>,
    at: String,
}

/// What the reader learnt about one module.
#[derive(Debug, Default)]
pub struct Module {
    /// Names this module's own `use` items bind, to the paths as written.
    names: BTreeMap<String, Vec<String>>,
}

/// Every module of a crate and every path its code names.
#[derive(Debug, Default)]
pub struct Crate {
    pub modules: BTreeMap<ModPath, Module>,
    refs: Vec<Ref>,
}

fn join(base: &[String], rest: &[String]) -> Vec<String> {
    base.iter().chain(rest).cloned().collect()
}

impl Crate {
    /// Reads the crate whose `lib.rs` is at `lib.rs` in `read`'s tree
    /// (relative paths such as `router/mod.rs`; `None` for a missing file).
    pub fn load(read: &dyn Fn(&str) -> Option<String>) -> Crate {
        let mut krate = Crate::default();
        // (module, its file, the folder its children's files are in)
        let mut queue = vec![(ModPath::new(), "lib.rs".to_string(), String::new())];
        while let Some((path, file, dir)) = queue.pop() {
            let src = read(&file).unwrap_or_else(|| panic!("no file {file}"));
            for name in krate.read_module(&path, &file, &src) {
                let flat = format!("{dir}{name}.rs");
                let file = if read(&flat).is_some() {
                    flat
                } else {
                    format!("{dir}{name}/mod.rs")
                };
                queue.push((
                    join(&path, std::slice::from_ref(&name)),
                    file,
                    format!("{dir}{name}/"),
                ));
            }
        }
        krate
    }

    /// Records module `path`'s items from `src`; returns the children
    /// declared with `mod name;` (their code is in files of their own).
    fn read_module(&mut self, path: &ModPath, file: &str, src: &str) -> Vec<String> {
        let toks = tokenize(src);
        let mut files = Vec::new();
        // Inline modules open inside this file: (path, brace depth of its body).
        let mut open: Vec<(ModPath, usize)> = vec![(path.clone(), 0)];
        self.modules.entry(path.clone()).or_default();
        let (mut i, mut depth) = (0, 0usize);
        while i < toks.len() {
            let (here, body) = open.last().cloned().expect("the file's module");
            let at = format!("{file}:{}", toks[i].line);
            match &toks[i].tok {
                Tok::Punct('#')
                    if is_punct(toks.get(i + 1), '[')
                        || (is_punct(toks.get(i + 1), '!') && is_punct(toks.get(i + 2), '[')) =>
                {
                    let inner = is_punct(toks.get(i + 1), '!');
                    let start = i + 1 + usize::from(inner);
                    let end = group_end(&toks, start);
                    let attr: Vec<&Tok> = toks[start..end].iter().map(|t| &t.tok).collect();
                    let cfg_test = attr.len() == 6
                        && matches!(attr[1], Tok::Ident(s) if s == "cfg")
                        && matches!(attr[3], Tok::Ident(s) if s == "test");
                    i = if cfg_test && !inner {
                        item_end(&toks, end)
                    } else {
                        end
                    };
                    continue;
                }
                Tok::Punct('{') => depth += 1,
                Tok::Punct('}') => {
                    depth -= 1;
                    if open.len() > 1 && depth < body {
                        open.pop();
                    }
                }
                Tok::Ident(k) if k == "mod" => {
                    if let Some(Tok::Ident(name)) = toks.get(i + 1).map(|t| &t.tok) {
                        let name = name.clone();
                        if is_punct(toks.get(i + 2), ';') || is_punct(toks.get(i + 2), '{') {
                            let child = join(&here, std::slice::from_ref(&name));
                            self.modules.entry(child.clone()).or_default();
                            if is_punct(toks.get(i + 2), ';') {
                                files.push(name);
                            } else {
                                depth += 1;
                                open.push((child, depth));
                            }
                            i += 3;
                            continue;
                        }
                    }
                }
                Tok::Ident(k) if k == "use" => {
                    let mut uses = Vec::new();
                    i = use_tree(&toks, i + 1, Vec::new(), &mut uses);
                    for u in uses {
                        // Only the module's own items bind names other
                        // modules can reach; a `use` in a function does not.
                        if let (Some(name), true) = (&u.name, depth == body) {
                            let names = &mut self.module_mut(&here).names;
                            names.insert(name.clone(), u.path.clone());
                        }
                        self.refs.push(Ref {
                            from: here.clone(),
                            path: u.path,
                            at: at.clone(),
                        });
                    }
                    continue;
                }
                Tok::Ident(k)
                    if (k == "crate" || k == "super" || k == "self")
                        && matches!(toks.get(i + 1).map(|t| &t.tok), Some(Tok::Sep)) =>
                {
                    let mut path = vec![k.clone()];
                    i += 1;
                    while let (Some(Tok::Sep), Some(Tok::Ident(s))) =
                        (toks.get(i).map(|t| &t.tok), toks.get(i + 1).map(|t| &t.tok))
                    {
                        path.push(s.clone());
                        i += 2;
                    }
                    self.refs.push(Ref {
                        from: here,
                        path,
                        at,
                    });
                    continue;
                }
                _ => {}
            }
            i += 1;
        }
        files
    }

    fn module_mut(&mut self, path: &ModPath) -> &mut Module {
        self.modules.entry(path.clone()).or_default()
    }

    fn is_module(&self, path: &[String]) -> bool {
        self.modules.contains_key(path)
    }

    /// The path from the crate root that `path`, written in module `from`,
    /// stands for; `None` when it leads into another crate.
    fn absolute(&self, from: &[String], path: &[String], hops: usize) -> Option<Vec<String>> {
        let first = path.first()?;
        match first.as_str() {
            "crate" => Some(path[1..].to_vec()),
            "self" => Some(join(from, &path[1..])),
            "super" => {
                let ups = path.iter().take_while(|s| *s == "super").count();
                let base = from.get(..from.len().checked_sub(ups)?)?;
                Some(join(base, &path[ups..]))
            }
            name if self.is_module(&join(from, &[name.to_string()])) => Some(join(from, path)),
            name => {
                let target = self.modules.get(from)?.names.get(name)?;
                if hops > 16 || target.as_slice() == path {
                    return None;
                }
                let target = self.absolute(from, target, hops + 1)?;
                Some(join(&target, &path[1..]))
            }
        }
    }

    /// The module that defines what the absolute path `path` names,
    /// following re-exports.
    fn owner(&self, path: &[String], hops: usize) -> ModPath {
        let mut module = ModPath::new();
        for (k, seg) in path.iter().enumerate() {
            let child = join(&module, std::slice::from_ref(seg));
            if self.is_module(&child) {
                module = child;
                continue;
            }
            let reexport = self.modules.get(&module).and_then(|m| m.names.get(seg));
            if let (Some(target), true) = (reexport, hops < 16) {
                if let Some(target) = self.absolute(&module, target, 0) {
                    return self.owner(&join(&target, &path[k + 1..]), hops + 1);
                }
            }
            break;
        }
        module
    }

    /// Per module, the dependencies between its children.
    pub fn edges(&self) -> BTreeMap<ModPath, Graph> {
        let mut edges: BTreeMap<ModPath, Graph> = BTreeMap::new();
        for r in &self.refs {
            let Some(path) = self.absolute(&r.from, &r.path, 0) else {
                continue;
            };
            let to = self.owner(&path, 0);
            let common = r.from.iter().zip(&to).take_while(|(a, b)| a == b).count();
            if common < r.from.len() && common < to.len() {
                let evidence = format!("{} `{}`", r.at, r.path.join("::"));
                edges
                    .entry(r.from[..common].to_vec())
                    .or_default()
                    .entry(r.from[common].clone())
                    .or_default()
                    .entry(to[common].clone())
                    .or_insert(evidence);
            }
        }
        edges
    }

    /// Every cycle among the children of any module, as readable reports.
    pub fn cycles(&self) -> Vec<String> {
        let mut reports = Vec::new();
        for (parent, graph) in self.edges() {
            let mut done = BTreeSet::new();
            for start in graph.keys() {
                let mut stack = Vec::new();
                find_cycles(&graph, start, &mut stack, &mut done, &mut |cycle| {
                    let name = |p: &[String]| {
                        if p.is_empty() {
                            "crate".to_string()
                        } else {
                            format!("crate::{}", p.join("::"))
                        }
                    };
                    let mut report = format!("cycle among the children of `{}`: ", name(&parent));
                    report += &cycle.join(" -> ");
                    for pair in cycle.windows(2) {
                        let at = &graph[&pair[0]][&pair[1]];
                        report += &format!("\n    {} -> {}: {at}", pair[0], pair[1]);
                    }
                    reports.push(report);
                });
            }
        }
        reports
    }
}

/// Depth-first search from `node`; calls `found` with each cycle closed by
/// an edge back into `stack` (first node repeated at the end).
fn find_cycles(
    graph: &Graph,
    node: &String,
    stack: &mut Vec<String>,
    done: &mut BTreeSet<String>,
    found: &mut dyn FnMut(Vec<String>),
) {
    if done.contains(node) {
        return;
    }
    if let Some(k) = stack.iter().position(|n| n == node) {
        let mut cycle = stack[k..].to_vec();
        cycle.push(node.clone());
        found(cycle);
        return;
    }
    stack.push(node.clone());
    for next in graph.get(node).into_iter().flat_map(|m| m.keys()) {
        find_cycles(graph, next, stack, done, found);
    }
    stack.pop();
    done.insert(node.clone());
}

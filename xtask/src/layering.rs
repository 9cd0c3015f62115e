//! `cargo xtask ci layering`: no file of a crate imports a file that imports it back.
//!
//! For each workspace member it parses every `src/**/*.rs` file with syn, walks the paths
//! the file names — `use crate::…`, `use super::…`, `use self::…`, a `use` of a child
//! module, and inline `crate::…` / `super::…` / `self::…` / `child::…` paths in code and
//! in macro and attribute arguments — and resolves each to the file that defines the
//! item, following `use` re-exports (so `use crate::Error` reaches `error.rs`, not
//! `lib.rs`). A strongly connected group of two or more files is a circle; each is
//! printed with one shortest cycle, every hop with its file, line and path.
//!
//! `#[cfg(test)]` modules are not layers (a unit test may drive its file through the
//! crate's entry point); `#[path]` attributes and macro-generated paths are not seen,
//! which is enough for this workspace's code, which declares modules the ordinary way.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use proc_macro2::{Spacing, TokenStream, TokenTree};
use quote::ToTokens;
use syn::visit::{self, Visit};

/// The directories (relative to the workspace root) whose crates are checked.
const MEMBER_GLOBS: &[&str] = &["crates", "xtask", "tests", "bench"];

/// A module path from the crate root, e.g. `["connect", "tunnel"]`.
type ModPath = Vec<String>;

/// One path a file names, resolved to absolute module segments, with where it was written.
struct Reference {
    segments: ModPath,
    line: usize,
    text: String,
}

/// A `use` binding in a file: the name it introduces and the absolute path it points at.
struct Binding {
    name: String,
    target: ModPath,
}

/// One source file of a crate.
struct SourceFile {
    rel: String,
    references: Vec<Reference>,
    bindings: Vec<Binding>,
}

/// A dependency of one file on another, with the first place it is written.
#[derive(Clone)]
struct Edge {
    line: usize,
    text: String,
}

/// The circles found in one crate: each a list of hops `(from, to, line, path)`.
pub(crate) struct CrateReport {
    pub(crate) name: String,
    pub(crate) files: usize,
    pub(crate) circles: Vec<Vec<(String, String, usize, String)>>,
    pub(crate) circle_files: Vec<Vec<String>>,
}

/// Checks every member crate under `root`; prints the circles and returns whether none
/// was found.
pub(crate) fn check(root: &Path) -> bool {
    let reports = match scan_workspace(root) {
        Ok(reports) => reports,
        Err(e) => {
            eprintln!("layering: {e}");
            return false;
        }
    };
    let mut total = 0;
    for report in &reports {
        total += report.circles.len();
        for (files, cycle) in report.circle_files.iter().zip(&report.circles) {
            eprintln!(
                "layering: import circle in {} between {} files: {}",
                report.name,
                files.len(),
                files.join(", ")
            );
            for (from, to, line, text) in cycle {
                eprintln!("    {from}:{line} `{text}` -> {to}");
            }
        }
    }
    let files: usize = reports.iter().map(|r| r.files).sum();
    if total == 0 {
        eprintln!("layering: {} crates, {files} files, no import circle", reports.len());
        true
    } else {
        eprintln!("layering: {total} import circle(s); move the shared item below both files");
        false
    }
}

/// The crates below `root`'s member directories, each scanned.
pub(crate) fn scan_workspace(root: &Path) -> Result<Vec<CrateReport>, String> {
    let mut crate_dirs = Vec::new();
    for member in MEMBER_GLOBS {
        let dir = root.join(member);
        if dir.join("src").is_dir() {
            crate_dirs.push(dir);
        } else if dir.is_dir() {
            let mut subdirs: Vec<PathBuf> = read_dir(&dir)?.into_iter().filter(|p| p.join("src").is_dir()).collect();
            subdirs.sort();
            crate_dirs.extend(subdirs);
        }
    }
    let mut reports = Vec::new();
    for dir in crate_dirs {
        let name = dir.strip_prefix(root).unwrap_or(&dir).display().to_string();
        for src_root in ["lib.rs", "main.rs"] {
            if dir.join("src").join(src_root).is_file() {
                let mut report = scan_crate(&dir.join("src"), src_root)?;
                report.name = if dir.join("src/lib.rs").is_file() && src_root == "main.rs" {
                    format!("{name} (bin)")
                } else {
                    name.clone()
                };
                reports.push(report);
            }
        }
    }
    Ok(reports)
}

fn read_dir(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let entries = fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut paths = Vec::new();
    for entry in entries {
        paths.push(entry.map_err(|e| format!("{}: {e}", dir.display()))?.path());
    }
    Ok(paths)
}

/// The module files reachable from `src/<root_file>` through `mod name;` declarations
/// (not `#[cfg(test)]` ones), each parsed.
fn module_files(src: &Path, root_file: &str) -> Result<BTreeMap<ModPath, (PathBuf, syn::File)>, String> {
    let mut files = BTreeMap::new();
    let mut queue = VecDeque::from([(Vec::new(), src.join(root_file))]);
    while let Some((path, file)) = queue.pop_front() {
        let text = fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        let ast = syn::parse_file(&text).map_err(|e| {
            let at = e.span().start();
            format!("{}:{}:{}: {e}", file.display(), at.line, at.column + 1)
        })?;
        // A `mod.rs` or crate root owns its directory; `a.rs` owns `a/`.
        let dir = if path.is_empty() || file.file_name().is_some_and(|n| n == "mod.rs") {
            file.parent().map(Path::to_path_buf).unwrap_or_default()
        } else {
            file.with_extension("")
        };
        for item in &ast.items {
            let syn::Item::Mod(module) = item else { continue };
            if module.content.is_some() || is_cfg_test(&module.attrs) {
                continue;
            }
            let name = module.ident.to_string();
            let flat = dir.join(format!("{name}.rs"));
            let child = if flat.is_file() {
                flat
            } else {
                dir.join(&name).join("mod.rs")
            };
            if child.is_file() {
                let mut child_path = path.clone();
                child_path.push(name);
                queue.push_back((child_path, child));
            }
        }
        files.insert(path, (file, ast));
    }
    Ok(files)
}

/// `#[cfg(test)]`.
fn is_cfg_test(attrs: &[syn::Attribute]) -> bool {
    attrs
        .iter()
        .any(|attr| attr.path().is_ident("cfg") && attr.parse_args::<syn::Ident>().is_ok_and(|arg| arg == "test"))
}

fn scan_crate(src: &Path, root_file: &str) -> Result<CrateReport, String> {
    let modules = module_files(src, root_file)?;
    let module_set: BTreeSet<&ModPath> = modules.keys().collect();
    let mut parsed: BTreeMap<ModPath, SourceFile> = BTreeMap::new();
    for (path, (file, ast)) in &modules {
        let rel = file
            .strip_prefix(src.parent().unwrap_or(src))
            .unwrap_or(file)
            .display()
            .to_string();
        parsed.insert(path.clone(), read_file(ast, path, &module_set, rel));
    }

    // Edges: file -> file, the first place each is written.
    let mut edges: BTreeMap<ModPath, BTreeMap<ModPath, Edge>> = BTreeMap::new();
    for (from, file) in &parsed {
        for reference in &file.references {
            let Some(to) = resolve(&reference.segments, &parsed, &module_set, 0) else {
                continue;
            };
            // A module may use what it declares: an edge into its own submodules is the
            // module's structure (like its `mod` lines), not an import that can circle.
            if !to.starts_with(from) {
                edges
                    .entry(from.clone())
                    .or_default()
                    .entry(to)
                    .or_insert_with(|| Edge {
                        line: reference.line,
                        text: reference.text.clone(),
                    });
            }
        }
    }

    let nodes: Vec<ModPath> = parsed.keys().cloned().collect();
    let mut circles = Vec::new();
    let mut circle_files = Vec::new();
    for component in strongly_connected(&nodes, &edges) {
        if component.len() < 2 {
            continue;
        }
        let names: Vec<String> = component.iter().map(|m| parsed[m].rel.clone()).collect();
        let cycle = shortest_cycle(&component, &edges)
            .into_iter()
            .map(|(from, to, edge)| (parsed[&from].rel.clone(), parsed[&to].rel.clone(), edge.line, edge.text))
            .collect();
        circle_files.push(names);
        circles.push(cycle);
    }
    Ok(CrateReport {
        name: String::new(),
        files: parsed.len(),
        circles,
        circle_files,
    })
}

/// The file that defines what `segments` names: the longest prefix that is a module file,
/// then, if the next segment is a name that file binds with `use`, where that points.
fn resolve(
    segments: &[String],
    files: &BTreeMap<ModPath, SourceFile>,
    modules: &BTreeSet<&ModPath>,
    depth: usize,
) -> Option<ModPath> {
    let mut len = segments.len();
    while len > 0 && !modules.contains(&segments[..len].to_vec()) {
        len -= 1;
    }
    let module = segments[..len].to_vec();
    if depth < 8 {
        if let Some(next) = segments.get(len) {
            if let Some(binding) = files
                .get(&module)
                .and_then(|f| f.bindings.iter().find(|b| &b.name == next))
            {
                let mut target = binding.target.clone();
                target.extend_from_slice(&segments[len + 1..]);
                if target != segments {
                    return resolve(&target, files, modules, depth + 1);
                }
            }
        }
    }
    Some(module)
}

/// The groups of files that reach one another (strongly connected components), each
/// sorted: a walk from every file is plenty for a crate's few dozen files.
fn strongly_connected(nodes: &[ModPath], edges: &BTreeMap<ModPath, BTreeMap<ModPath, Edge>>) -> Vec<Vec<ModPath>> {
    let reach = |from: &ModPath| {
        let mut seen = BTreeSet::new();
        let mut queue = VecDeque::from([from.clone()]);
        while let Some(node) = queue.pop_front() {
            for next in edges.get(&node).into_iter().flat_map(BTreeMap::keys) {
                if seen.insert(next.clone()) {
                    queue.push_back(next.clone());
                }
            }
        }
        seen
    };
    let reaches: BTreeMap<&ModPath, BTreeSet<ModPath>> = nodes.iter().map(|node| (node, reach(node))).collect();
    let mut placed = BTreeSet::new();
    let mut components = Vec::new();
    for node in nodes {
        if placed.contains(node) {
            continue;
        }
        let component: Vec<ModPath> = nodes
            .iter()
            .filter(|other| *other == node || (reaches[node].contains(*other) && reaches[other].contains(node)))
            .cloned()
            .collect();
        placed.extend(component.iter().cloned());
        components.push(component);
    }
    components.sort();
    components
}

/// The shortest cycle through the component's first file (breadth-first), as hops.
fn shortest_cycle(
    component: &[ModPath],
    edges: &BTreeMap<ModPath, BTreeMap<ModPath, Edge>>,
) -> Vec<(ModPath, ModPath, Edge)> {
    let members: BTreeSet<&ModPath> = component.iter().collect();
    let start = &component[0];
    let mut parent: BTreeMap<&ModPath, &ModPath> = BTreeMap::new();
    let mut queue = VecDeque::from([start]);
    while let Some(node) = queue.pop_front() {
        for next in edges.get(node).into_iter().flat_map(BTreeMap::keys) {
            if !members.contains(next) {
                continue;
            }
            if next == start {
                let mut hops = vec![(node.clone(), start.clone(), edges[node][start].clone())];
                let mut at = node;
                while at != start {
                    let prev = parent[at];
                    hops.push((prev.clone(), at.clone(), edges[prev][at].clone()));
                    at = prev;
                }
                hops.reverse();
                return hops;
            }
            if !parent.contains_key(next) && next != start {
                parent.insert(next, node);
                queue.push_back(next);
            }
        }
    }
    Vec::new()
}

/// Reads one file's references and top-level `use` bindings; `module` is its module path.
fn read_file(ast: &syn::File, module: &ModPath, modules: &BTreeSet<&ModPath>, rel: String) -> SourceFile {
    let mut bindings = Vec::new();
    for item in &ast.items {
        let syn::Item::Use(item) = item else { continue };
        if item.leading_colon.is_some() {
            continue;
        }
        let mut leaves = Vec::new();
        use_leaves(&item.tree, Vec::new(), &mut leaves);
        for (path, alias) in leaves {
            let Some(target) = absolute(&path, module, modules) else {
                continue;
            };
            match alias.or_else(|| path.last().cloned()) {
                Some(name) if name != "*" && name != "self" => bindings.push(Binding { name, target }),
                _ => {}
            }
        }
    }
    let mut reader = Reader {
        file_module: module,
        inline: Vec::new(),
        modules,
        references: Vec::new(),
    };
    reader.visit_file(ast);
    SourceFile {
        rel,
        references: reader.references,
        bindings,
    }
}

/// Collects the paths of a file that name items of this crate.
struct Reader<'a> {
    file_module: &'a ModPath,
    /// The inline modules (`mod name { … }`) the walk is in.
    inline: Vec<String>,
    modules: &'a BTreeSet<&'a ModPath>,
    references: Vec<Reference>,
}

impl Reader<'_> {
    fn here(&self) -> ModPath {
        let mut here = self.file_module.clone();
        here.extend(self.inline.iter().cloned());
        here
    }

    fn note(&mut self, path: &[String], line: usize, text: String) {
        if let Some(segments) = absolute(path, &self.here(), self.modules) {
            self.references.push(Reference { segments, line, text });
        }
    }

    /// `crate::…`, `super::…`, `self::…` and `child::…` paths inside a macro's or an
    /// attribute's tokens
    /// (`$crate::…` is the macro's own crate, `pub(in crate::…)` no import).
    fn note_tokens(&mut self, tokens: TokenStream) {
        let tokens: Vec<TokenTree> = tokens.into_iter().collect();
        let mut i = 0;
        while i < tokens.len() {
            if let TokenTree::Group(group) = &tokens[i] {
                self.note_tokens(group.stream());
            }
            let path = path_at(&tokens, i);
            let after_path_start = i > 0
                && match &tokens[i - 1] {
                    TokenTree::Punct(p) => matches!(p.as_char(), '$' | ':' | '.'),
                    TokenTree::Ident(ident) => ident == "in",
                    _ => false,
                };
            if path.len() >= 2 && !after_path_start {
                let line = tokens[i].span().start().line;
                let text = path.join("::");
                self.note(&path, line, text);
                i += 3 * (path.len() - 1) + 1;
                continue;
            }
            i += 1;
        }
    }
}

/// The identifiers of an `a::b::c` path starting at `tokens[i]` (each `::` two `:` puncts).
fn path_at(tokens: &[TokenTree], mut i: usize) -> Vec<String> {
    let mut path = Vec::new();
    while let Some(TokenTree::Ident(ident)) = tokens.get(i) {
        path.push(ident.to_string());
        match (tokens.get(i + 1), tokens.get(i + 2)) {
            (Some(TokenTree::Punct(a)), Some(TokenTree::Punct(b)))
                if a.as_char() == ':' && a.spacing() == Spacing::Joint && b.as_char() == ':' =>
            {
                i += 3;
            }
            _ => break,
        }
    }
    path
}

impl<'ast> Visit<'ast> for Reader<'_> {
    fn visit_item_mod(&mut self, module: &'ast syn::ItemMod) {
        // Unit tests may drive their file through any part of the crate.
        if is_cfg_test(&module.attrs) {
            return;
        }
        self.inline.push(module.ident.to_string());
        visit::visit_item_mod(self, module);
        self.inline.pop();
    }

    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        // `use ::name…` is another crate.
        if item.leading_colon.is_some() {
            return;
        }
        let line = item.use_token.span.start().line;
        let text: String = item.tree.to_token_stream().to_string().split_whitespace().collect();
        let mut leaves = Vec::new();
        use_leaves(&item.tree, Vec::new(), &mut leaves);
        for (path, _alias) in leaves {
            self.note(&path, line, text.clone());
        }
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        if path.leading_colon.is_none() && path.segments.len() >= 2 {
            let names: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
            let line = path.segments[0].ident.span().start().line;
            let text = names.join("::");
            self.note(&names, line, text);
        }
        visit::visit_path(self, path);
    }

    fn visit_vis_restricted(&mut self, _restricted: &'ast syn::VisRestricted) {
        // `pub(in crate::a)` names where an item is visible, not an import.
    }

    fn visit_attribute(&mut self, attr: &'ast syn::Attribute) {
        // e.g. clap's `#[arg(value_parser = crate::args::parse_duration)]`.
        if let syn::Meta::List(list) = &attr.meta {
            self.note_tokens(list.tokens.clone());
        }
        visit::visit_attribute(self, attr);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        visit::visit_macro(self, mac);
        self.note_tokens(mac.tokens.clone());
    }
}

/// Expands a `use` tree into its leaf paths, each with its `as` alias (`a::{self}` is
/// `a`; a glob ends in `*`).
fn use_leaves(tree: &syn::UseTree, mut prefix: Vec<String>, out: &mut Vec<(Vec<String>, Option<String>)>) {
    match tree {
        syn::UseTree::Path(path) => {
            prefix.push(path.ident.to_string());
            use_leaves(&path.tree, prefix, out);
        }
        syn::UseTree::Name(name) => {
            if name.ident != "self" {
                prefix.push(name.ident.to_string());
            }
            out.push((prefix, None));
        }
        syn::UseTree::Rename(rename) => {
            if rename.ident != "self" {
                prefix.push(rename.ident.to_string());
            }
            out.push((prefix, Some(rename.rename.to_string())));
        }
        syn::UseTree::Glob(_) => {
            prefix.push("*".to_owned());
            out.push((prefix, None));
        }
        syn::UseTree::Group(group) => {
            for tree in &group.items {
                use_leaves(tree, prefix.clone(), out);
            }
        }
    }
}

/// The absolute module path of `path` as written in module `here`; `None` for paths that
/// leave the crate (another crate, the standard library).
fn absolute(path: &[String], here: &ModPath, modules: &BTreeSet<&ModPath>) -> Option<ModPath> {
    let first = path.first()?;
    let mut base: ModPath;
    let mut rest = path;
    match first.as_str() {
        "crate" => {
            base = Vec::new();
            rest = &path[1..];
        }
        "self" => {
            base = here.clone();
            rest = &path[1..];
        }
        "super" => {
            base = here.clone();
            while rest.first().is_some_and(|s| s == "super") {
                base.pop()?;
                rest = &rest[1..];
            }
        }
        name => {
            // A `use` of a child module of this one (edition-2018 uniform paths).
            let mut child = here.clone();
            child.push(name.to_string());
            if !modules.contains(&child) {
                return None;
            }
            base = here.clone();
        }
    }
    base.extend(rest.iter().filter(|s| *s != "*").cloned());
    Some(base)
}

/// A one-paragraph figure for the lead: circles per crate.
pub(crate) fn summary(root: &Path) -> String {
    let mut out = String::new();
    match scan_workspace(root) {
        Ok(reports) => {
            for report in reports {
                let _ = writeln!(
                    out,
                    "{}: {} files, {} circle(s){}",
                    report.name,
                    report.files,
                    report.circles.len(),
                    report
                        .circle_files
                        .iter()
                        .map(|c| format!(" [{}]", c.join(", ")))
                        .collect::<String>()
                );
            }
        }
        Err(e) => out.push_str(&e),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A crate in a fresh directory: `files` are `(path under src/, text)`.
    fn scan(name: &str, files: &[(&str, &str)]) -> CrateReport {
        let dir = std::env::temp_dir().join(format!("xtask-layering-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        for (path, text) in files {
            let file = dir.join("src").join(path);
            fs::create_dir_all(file.parent().unwrap()).unwrap();
            fs::write(file, text).unwrap();
        }
        let report = scan_crate(&dir.join("src"), "lib.rs").unwrap();
        let _ = fs::remove_dir_all(&dir);
        report
    }

    #[test]
    fn two_siblings_importing_each_other_are_a_circle_named_with_its_lines() {
        let report = scan(
            "circle",
            &[
                ("lib.rs", "mod a;\nmod b;\npub use a::A;\n"),
                ("a.rs", "use crate::b::B;\npub struct A;\n"),
                ("b.rs", "pub struct B;\nfn f() -> crate::A { crate::A }\n"),
            ],
        );
        assert_eq!(
            report.circle_files,
            [vec!["src/a.rs".to_string(), "src/b.rs".to_string()]]
        );
        let hops: Vec<(&str, usize)> = report.circles[0].iter().map(|h| (h.0.as_str(), h.2)).collect();
        assert_eq!(hops, [("src/a.rs", 1), ("src/b.rs", 2)]);
    }

    #[test]
    fn a_shared_item_below_both_breaks_it_and_parents_may_use_their_children() {
        let report = scan(
            "straight",
            &[
                ("lib.rs", "mod a;\nmod b;\nmod shared;\npub fn top() { a::run() }\n"),
                ("a.rs", "use super::{b::B, shared::S};\npub fn run() {}\n"),
                (
                    "b.rs",
                    "use self::inner::X;\nmod inner { pub struct X; }\npub struct B(crate::shared::S);\n",
                ),
                (
                    "shared.rs",
                    "// use crate::a; (a comment)\npub struct S; const T: &str = \"crate::a::run\";\n",
                ),
            ],
        );
        assert!(report.circles.is_empty(), "{:?}", report.circle_files);
        assert_eq!(report.files, 4);
    }

    #[test]
    fn paths_in_macro_arguments_and_code_count_but_dollar_crate_and_pub_in_do_not() {
        let report = scan(
            "macros",
            &[
                ("lib.rs", "mod a;\nmod b;\nmod c;\n"),
                ("a.rs", "pub fn f() { println!(\"{}\", crate::b::G); }\n"),
                (
                    "b.rs",
                    "pub const G: u8 = 0;\npub(in crate::a) fn h() {}\nmacro_rules! m { () => { $crate::a::f() } }\n",
                ),
                (
                    "c.rs",
                    "pub fn g() -> u8 { super::b::G }\n#[cfg(test)]\npub(crate) mod tests;\n",
                ),
            ],
        );
        assert!(report.circles.is_empty(), "{:?}", report.circle_files);
        assert_eq!(report.files, 4, "a #[cfg(test)] module file is not a layer");
        // The same in code instead of `$crate` / `pub(in …)`: a circle, found through the
        // macro's argument.
        let report = scan(
            "macros-circle",
            &[
                ("lib.rs", "mod a;\nmod b;\n"),
                ("a.rs", "pub fn f() { println!(\"{}\", crate::b::G); }\n"),
                ("b.rs", "pub const G: u8 = 0;\nfn h() { super::a::f() }\n"),
            ],
        );
        assert_eq!(
            report.circle_files,
            [vec!["src/a.rs".to_string(), "src/b.rs".to_string()]]
        );
        assert_eq!(report.circles[0][0].3, "crate::b::G");
    }

    #[test]
    fn unit_tests_are_not_layers() {
        let report = scan(
            "tests",
            &[
                ("lib.rs", "mod a;\nmod b;\n"),
                ("a.rs", "use crate::b::B;\n"),
                ("b.rs", "pub struct B;\n#[cfg(test)]\nmod tests { use crate::a; }\n"),
            ],
        );
        assert!(report.circles.is_empty());
    }

    #[test]
    fn use_trees_expand_to_every_leaf() {
        let tree: syn::UseTree = syn::parse_str("crate::{a::{self, B as C}, d::*}").unwrap();
        let mut leaves = Vec::new();
        use_leaves(&tree, Vec::new(), &mut leaves);
        let leaves: Vec<(String, Option<String>)> = leaves.into_iter().map(|(p, a)| (p.join("::"), a)).collect();
        assert_eq!(
            leaves,
            [
                ("crate::a".to_string(), None),
                ("crate::a::B".to_string(), Some("C".to_string())),
                ("crate::d::*".to_string(), None),
            ]
        );
    }
}

//! `cargo xtask ci layering`: no file of a crate imports a file that imports it back.
//!
//! For each workspace member it reads every `src/**/*.rs` file, finds the paths the file
//! names — `use crate::…`, `use super::…`, `use self::…`, a `use` of a child module, and
//! inline `crate::…` / `super::…` paths in code — and resolves each to the file that
//! defines the item, following `use` re-exports (so `use crate::Error` reaches
//! `error.rs`, not `lib.rs`). A strongly connected group of two or more files is a circle;
//! each is printed with one shortest cycle, every hop with its file, line and path.
//!
//! It is a reader of tokens, not a compiler: comments and literals are skipped,
//! `#[path]` attributes and macro-generated paths are not seen. That is enough for this
//! workspace's code, which declares modules the ordinary way.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

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

/// The module files reachable from `src/<root_file>` through `mod name;` declarations.
fn module_files(src: &Path, root_file: &str) -> Result<BTreeMap<ModPath, PathBuf>, String> {
    let mut files = BTreeMap::new();
    let mut queue = VecDeque::from([(Vec::new(), src.join(root_file))]);
    while let Some((path, file)) = queue.pop_front() {
        let text = fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        // A `mod.rs` or crate root owns its directory; `a.rs` owns `a/`.
        let dir = if path.is_empty() || file.file_name().is_some_and(|n| n == "mod.rs") {
            file.parent().map(Path::to_path_buf).unwrap_or_default()
        } else {
            file.with_extension("")
        };
        for name in declared_file_modules(&text) {
            let flat = dir.join(format!("{name}.rs"));
            let nested = dir.join(&name).join("mod.rs");
            let child = if flat.is_file() { flat } else { nested };
            if child.is_file() {
                let mut child_path = path.clone();
                child_path.push(name);
                queue.push_back((child_path, child));
            }
        }
        files.insert(path, file);
    }
    Ok(files)
}

/// The `mod name;` declarations at a file's top level (not inline `mod name { … }`).
fn declared_file_modules(text: &str) -> Vec<String> {
    let tokens = tokenize(text);
    let mut names = Vec::new();
    let mut depth = 0usize;
    for (i, token) in tokens.iter().enumerate() {
        match token.text.as_str() {
            "{" => depth += 1,
            "}" => depth = depth.saturating_sub(1),
            "mod" if depth == 0 && !after_cfg_test(&tokens, i) => {
                if let (Some(name), Some(end)) = (tokens.get(i + 1), tokens.get(i + 2)) {
                    if end.text == ";" && is_ident(&name.text) {
                        names.push(name.text.clone());
                    }
                }
            }
            _ => {}
        }
    }
    names
}

fn scan_crate(src: &Path, root_file: &str) -> Result<CrateReport, String> {
    let modules = module_files(src, root_file)?;
    let module_set: BTreeSet<&ModPath> = modules.keys().collect();
    let mut parsed: BTreeMap<ModPath, SourceFile> = BTreeMap::new();
    for (path, file) in &modules {
        let text = fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
        let rel = file
            .strip_prefix(src.parent().unwrap_or(src))
            .unwrap_or(file)
            .display()
            .to_string();
        parsed.insert(path.clone(), parse_file(&text, path, &module_set, rel));
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

/// Tarjan's algorithm, iterative enough for a crate's few dozen files.
fn strongly_connected(nodes: &[ModPath], edges: &BTreeMap<ModPath, BTreeMap<ModPath, Edge>>) -> Vec<Vec<ModPath>> {
    struct State<'a> {
        index: BTreeMap<&'a ModPath, usize>,
        low: BTreeMap<&'a ModPath, usize>,
        on_stack: BTreeSet<&'a ModPath>,
        stack: Vec<&'a ModPath>,
        next: usize,
        out: Vec<Vec<ModPath>>,
    }
    fn visit<'a>(node: &'a ModPath, edges: &'a BTreeMap<ModPath, BTreeMap<ModPath, Edge>>, s: &mut State<'a>) {
        s.index.insert(node, s.next);
        s.low.insert(node, s.next);
        s.next += 1;
        s.stack.push(node);
        s.on_stack.insert(node);
        for next in edges.get(node).into_iter().flat_map(BTreeMap::keys) {
            if !s.index.contains_key(next) {
                visit(next, edges, s);
                let low = s.low[node].min(s.low[next]);
                s.low.insert(node, low);
            } else if s.on_stack.contains(next) {
                let low = s.low[node].min(s.index[next]);
                s.low.insert(node, low);
            }
        }
        if s.low[node] == s.index[node] {
            let mut component = Vec::new();
            while let Some(top) = s.stack.pop() {
                s.on_stack.remove(top);
                component.push(top.clone());
                if top == node {
                    break;
                }
            }
            component.sort();
            s.out.push(component);
        }
    }
    let mut state = State {
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        on_stack: BTreeSet::new(),
        stack: Vec::new(),
        next: 0,
        out: Vec::new(),
    };
    for node in nodes {
        if !state.index.contains_key(node) {
            visit(node, edges, &mut state);
        }
    }
    state.out.sort();
    state.out
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

/// A token of Rust source: an identifier, `::`, or one punctuation character.
struct Token {
    text: String,
    line: usize,
}

fn is_ident(text: &str) -> bool {
    text.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_')
}

/// Splits source into identifiers, `::` and single punctuation, skipping comments,
/// string, char and number literals.
fn tokenize(text: &str) -> Vec<Token> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut line = 1;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if chars[i] == '\n' {
                        line += 1;
                    }
                    i += 1;
                }
            }
        } else if c == '"' || ((c == 'b' || c == 'c') && next == Some('"')) {
            i += if c == '"' { 1 } else { 2 };
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    i += 1;
                }
                if chars.get(i) == Some(&'\n') {
                    line += 1;
                }
                i += 1;
            }
            i += 1;
        } else if (c == 'r' || ((c == 'b' || c == 'c') && next == Some('r')))
            && raw_string_hashes(&chars, if c == 'r' { i + 1 } else { i + 2 }).is_some()
        {
            let start = if c == 'r' { i + 1 } else { i + 2 };
            let hashes = raw_string_hashes(&chars, start).unwrap_or(0);
            i = start + hashes + 1;
            loop {
                if i >= chars.len() {
                    break;
                }
                if chars[i] == '"' && (0..hashes).all(|k| chars.get(i + 1 + k) == Some(&'#')) {
                    i += 1 + hashes;
                    break;
                }
                if chars[i] == '\n' {
                    line += 1;
                }
                i += 1;
            }
        } else if c == '\'' {
            // A char literal ('x', '\n', '\u{..}') or a lifetime ('a): a lifetime has no
            // closing quote right after its identifier.
            if next == Some('\\') {
                i += 2;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if chars.get(i + 2) == Some(&'\'') {
                i += 3;
            } else {
                i += 1;
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
            }
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            // `r#ident`
            if i - start == 1 && c == 'r' && chars.get(i) == Some(&'#') {
                i += 1;
                let raw_start = i;
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                tokens.push(Token {
                    text: chars[raw_start..i].iter().collect(),
                    line,
                });
            } else {
                tokens.push(Token {
                    text: chars[start..i].iter().collect(),
                    line,
                });
            }
        } else if c.is_ascii_digit() {
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '.') {
                if chars[i] == '.' && !chars.get(i + 1).is_some_and(char::is_ascii_digit) {
                    break;
                }
                i += 1;
            }
        } else if c == ':' && next == Some(':') {
            tokens.push(Token {
                text: "::".into(),
                line,
            });
            i += 2;
        } else {
            tokens.push(Token {
                text: c.to_string(),
                line,
            });
            i += 1;
        }
    }
    tokens
}

/// At `start` (just after `r`): `#…#"` opens a raw string with that many hashes.
fn raw_string_hashes(chars: &[char], start: usize) -> Option<usize> {
    let mut hashes = 0;
    while chars.get(start + hashes) == Some(&'#') {
        hashes += 1;
    }
    (chars.get(start + hashes) == Some(&'"')).then_some(hashes)
}

/// Whether the tokens just before `at` (a `mod` keyword, after an optional `pub`) are
/// `#[cfg(test)]`.
fn after_cfg_test(tokens: &[Token], at: usize) -> bool {
    let mut end = at;
    if end > 0 && tokens[end - 1].text == "pub" {
        end -= 1;
    }
    end >= 7
        && tokens[end - 7..end]
            .iter()
            .map(|t| t.text.as_str())
            .eq(["#", "[", "cfg", "(", "test", ")", "]"])
}

/// Reads one file's references and `use` bindings; `module` is its module path.
fn parse_file(text: &str, module: &ModPath, modules: &BTreeSet<&ModPath>, rel: String) -> SourceFile {
    let tokens = tokenize(text);
    let mut references = Vec::new();
    let mut bindings = Vec::new();
    // Inline modules (`mod tests { … }`): (name, brace depth at which it closes).
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < tokens.len() {
        let t = tokens[i].text.as_str();
        let current = || {
            let mut path = module.clone();
            path.extend(inline.iter().map(|(n, _)| n.clone()));
            path
        };
        match t {
            "{" => depth += 1,
            "}" => {
                depth = depth.saturating_sub(1);
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
            }
            "mod" if tokens.get(i + 2).is_some_and(|t| t.text == "{") => {
                if after_cfg_test(&tokens, i) {
                    // Unit tests may drive their file through any part of the crate.
                    i = skip_block(&tokens, i + 2);
                    continue;
                }
                inline.push((tokens[i + 1].text.clone(), depth));
            }
            "use" => {
                let here = current();
                let line = tokens[i].line;
                let end = tokens[i..]
                    .iter()
                    .position(|t| t.text == ";")
                    .map_or(tokens.len(), |p| i + p);
                let mut leaves = Vec::new();
                use_tree(&tokens[i + 1..end], Vec::new(), &mut leaves);
                let text: String = tokens[i + 1..end].iter().map(|t| t.text.as_str()).collect();
                let at_file_level = inline.is_empty();
                for (path, alias) in leaves {
                    let Some(absolute) = absolute(&path, &here, modules) else {
                        continue;
                    };
                    if at_file_level {
                        if let Some(name) = alias.or_else(|| path.last().cloned()) {
                            if name != "*" && name != "self" {
                                bindings.push(Binding {
                                    name,
                                    target: absolute.clone(),
                                });
                            }
                        }
                    }
                    references.push(Reference {
                        segments: absolute,
                        line,
                        text: text.clone(),
                    });
                }
                i = end;
            }
            "crate" | "super" | "self"
                if tokens.get(i + 1).is_some_and(|t| t.text == "::")
                    && !(i > 0 && matches!(tokens[i - 1].text.as_str(), "$" | "::" | "in")) =>
            {
                let line = tokens[i].line;
                let mut path = vec![t.to_string()];
                let mut j = i + 1;
                while tokens.get(j).is_some_and(|t| t.text == "::")
                    && tokens.get(j + 1).is_some_and(|t| is_ident(&t.text))
                {
                    path.push(tokens[j + 1].text.clone());
                    j += 2;
                }
                if let Some(absolute) = absolute(&path, &current(), modules) {
                    references.push(Reference {
                        segments: absolute,
                        line,
                        text: path.join("::"),
                    });
                }
                i = j;
                continue;
            }
            name if inline.is_empty()
                && is_ident(name)
                && tokens.get(i + 1).is_some_and(|t| t.text == "::")
                && !(i > 0 && matches!(tokens[i - 1].text.as_str(), "::" | "." | "$"))
                && modules.contains(&child(module, name)) =>
            {
                // `child::item` in code: a path into a child module (edition-2018 paths).
                let line = tokens[i].line;
                let mut path = vec![name.to_string()];
                let mut j = i + 1;
                while tokens.get(j).is_some_and(|t| t.text == "::")
                    && tokens.get(j + 1).is_some_and(|t| is_ident(&t.text))
                {
                    path.push(tokens[j + 1].text.clone());
                    j += 2;
                }
                let mut absolute = module.clone();
                absolute.extend(path.iter().cloned());
                references.push(Reference {
                    segments: absolute,
                    line,
                    text: path.join("::"),
                });
                i = j;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    SourceFile {
        rel,
        references,
        bindings,
    }
}

/// `module::name`.
fn child(module: &ModPath, name: &str) -> ModPath {
    let mut path = module.clone();
    path.push(name.to_string());
    path
}

/// The index just past the block whose `{` is at `open`.
fn skip_block(tokens: &[Token], open: usize) -> usize {
    let mut depth = 0usize;
    for (k, token) in tokens.iter().enumerate().skip(open) {
        match token.text.as_str() {
            "{" => depth += 1,
            "}" => {
                depth -= 1;
                if depth == 0 {
                    return k + 1;
                }
            }
            _ => {}
        }
    }
    tokens.len()
}

/// Expands a `use` tree into its leaf paths, each with its `as` alias.
fn use_tree(tokens: &[Token], prefix: Vec<String>, out: &mut Vec<(Vec<String>, Option<String>)>) {
    let mut path = prefix.clone();
    let mut i = 0;
    // Leading `::` (an extern crate) and visibility are not module paths of this crate.
    if tokens.first().is_some_and(|t| t.text == "::") {
        return;
    }
    while i < tokens.len() {
        match tokens[i].text.as_str() {
            "::" => i += 1,
            "{" => {
                // Split the group at top-level commas.
                let mut depth = 0;
                let mut start = i + 1;
                let mut j = i + 1;
                while j < tokens.len() {
                    match tokens[j].text.as_str() {
                        "{" => depth += 1,
                        "}" if depth == 0 => break,
                        "}" => depth -= 1,
                        "," if depth == 0 => {
                            use_tree(&tokens[start..j], path.clone(), out);
                            start = j + 1;
                        }
                        _ => {}
                    }
                    j += 1;
                }
                if start < j {
                    use_tree(&tokens[start..j], path.clone(), out);
                }
                return;
            }
            "as" => {
                let alias = tokens.get(i + 1).map(|t| t.text.clone());
                out.push((path, alias));
                return;
            }
            "self" if !path.is_empty() && path.len() == prefix.len() => {
                out.push((path.clone(), None));
                i += 1;
                if tokens.get(i).is_some_and(|t| t.text == "as") {
                    let alias = tokens.get(i + 1).map(|t| t.text.clone());
                    out.pop();
                    out.push((path, alias));
                }
                return;
            }
            text if is_ident(text) || text == "*" => {
                path.push(text.to_string());
                i += 1;
            }
            _ => i += 1,
        }
    }
    if path.len() > prefix.len() || (!path.is_empty() && prefix.is_empty()) {
        out.push((path, None));
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
        let tokens = tokenize("crate::{a::{self, B as C}, d::*}");
        let mut leaves = Vec::new();
        use_tree(&tokens, Vec::new(), &mut leaves);
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

// Typed, strict reading of a YAML node tree (Yams' `compose`, which keeps line and column marks):
// every value is read through here so that unknown keys and wrong types are errors that name the
// file, line and column, as a compiler does.
import Foundation
import Yams

/// A config file error at `file:line:column` (the position is omitted when the value came from `--set`).
struct ConfigError: Error, CustomStringConvertible {
    let file: String
    let mark: Mark?
    let message: String

    var description: String {
        guard let mark else { return "\(file): \(message)" }
        return "\(file):\(mark.line):\(mark.column): \(message)"
    }
}

/// A mapping node being read: each key read is ticked off, and `finish()` rejects the rest.
final class ConfigMap {
    let file: String
    let path: String
    let mapping: Node.Mapping
    private var used: Set<String> = []

    init(_ node: Node, file: String, path: String) throws {
        guard let mapping = node.mapping else {
            throw ConfigError(file: file, mark: node.mark, message: "\(path.isEmpty ? "the config" : "`\(path)`") must be a mapping of keys to values")
        }
        self.file = file
        self.path = path
        self.mapping = mapping
        var seen: Set<String> = []
        for (key, _) in mapping {
            guard let name = key.scalar?.string else {
                throw ConfigError(file: file, mark: key.mark, message: "keys must be plain strings")
            }
            if !seen.insert(name).inserted {
                throw ConfigError(file: file, mark: key.mark, message: "key `\(qualified(name))` appears twice")
            }
        }
    }

    func qualified(_ key: String) -> String { path.isEmpty ? key : path + "." + key }

    func contains(_ key: String) -> Bool { node(key) != nil }

    /// The value node of `key`, ticking it off as known.
    func node(_ key: String) -> Node? {
        used.insert(key)
        return mapping.first { $0.key.scalar?.string == key }?.value
    }

    func error(_ node: Node?, _ message: String) -> ConfigError {
        ConfigError(file: file, mark: node?.mark ?? mapping.mark, message: message)
    }

    // MARK: scalars

    func string(_ key: String) throws -> String? {
        guard let n = node(key), !isNull(n) else { return nil }
        guard let s = n.scalar?.string else { throw error(n, "`\(qualified(key))` must be a string") }
        return s
    }

    func int(_ key: String) throws -> Int? {
        guard let n = node(key), !isNull(n) else { return nil }
        guard let s = n.scalar, let v = Int(s.string) else { throw error(n, "`\(qualified(key))` must be an integer, got `\(describe(n))`") }
        return v
    }

    func double(_ key: String) throws -> Double? {
        guard let n = node(key), !isNull(n) else { return nil }
        return try number(n, key)
    }

    func bool(_ key: String) throws -> Bool? {
        guard let n = node(key), !isNull(n) else { return nil }
        guard n.scalar != nil, let v = n.bool else { throw error(n, "`\(qualified(key))` must be true or false, got `\(describe(n))`") }
        return v
    }

    /// One of `choices`, by name.
    func choice(_ key: String, _ choices: [String]) throws -> String? {
        guard let v = try string(key) else { return nil }
        guard choices.contains(v) else {
            throw error(node(key), "`\(qualified(key))` takes \(choices.map { "`\($0)`" }.joined(separator: ", ")); got `\(v)`")
        }
        return v
    }

    func number(_ n: Node, _ key: String) throws -> Double {
        guard let s = n.scalar, let v = n.float ?? Double(s.string) else {
            throw error(n, "`\(qualified(key))` must be a number, got `\(describe(n))`")
        }
        return v
    }

    // MARK: collections

    /// A sequence, or a single value standing for a sequence of one (`layers: fc7` = `layers: [fc7]`).
    func list(_ key: String) -> [Node]? {
        guard let n = node(key), !isNull(n) else { return nil }
        if let s = n.sequence { return Array(s) }
        return [n]
    }

    func strings(_ key: String) throws -> [String]? {
        try list(key).map { nodes in
            try nodes.map { n in
                guard let s = n.scalar?.string else { throw error(n, "`\(qualified(key))` must be a string or a list of strings") }
                return s
            }
        }
    }

    func map(_ key: String) throws -> ConfigMap? {
        guard let n = node(key), !isNull(n) else { return nil }
        return try ConfigMap(n, file: file, path: qualified(key))
    }

    /// Throws at the first key that was never read, suggesting the nearest known one.
    func finish(known: [String]) throws {
        for (key, _) in mapping {
            let name = key.scalar?.string ?? ""
            if used.contains(name) { continue }
            let nearest = known.min { editDistance($0, name) < editDistance($1, name) }
            let hint = nearest.flatMap { editDistance($0, name) <= max(2, name.count / 3) ? " (did you mean `\($0)`?)" : nil }
                ?? "; known keys here: \(known.joined(separator: ", "))"
            throw error(key, "unknown key `\(qualified(name))`\(hint)")
        }
    }

    private func isNull(_ n: Node) -> Bool { n.scalar != nil && n.null != nil && n.scalar?.style == .plain }

    private func describe(_ n: Node) -> String {
        if let s = n.scalar { return s.string }
        return n.sequence != nil ? "a list" : "a mapping"
    }
}

/// Levenshtein distance, for "did you mean" hints.
private func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    var row = Array(0...b.count)
    for i in 1...max(a.count, 1) where !a.isEmpty {
        var previous = row[0]
        row[0] = i
        for j in stride(from: 1, through: b.count, by: 1) {
            let current = row[j]
            row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
            previous = current
        }
    }
    return row[b.count]
}

/// `--set data.per_class=5`: replaces (or adds) the value at a dotted key path in the node tree,
/// the value parsed as YAML. The replaced value has no mark, so errors about it name the key only.
func override(_ root: Node, _ assignment: String, file: String) throws -> Node {
    guard let eq = assignment.firstIndex(of: "=") else {
        throw ConfigError(file: file, mark: nil, message: "--set takes KEY=VALUE (e.g. data.per_class=5); got `\(assignment)`")
    }
    let keys = assignment[..<eq].split(separator: ".").map(String.init)
    let text = String(assignment[assignment.index(after: eq)...])
    let value: Node
    do { value = try Yams.compose(yaml: text) ?? Node("", .implicit, .plain) } catch {
        throw ConfigError(file: file, mark: nil, message: "--set \(assignment): the value is not YAML: \(error)")
    }
    func set(_ node: Node, _ keys: ArraySlice<String>) throws -> Node {
        guard let key = keys.first else { return stripMarks(value) }
        var mapping = node.mapping ?? Node.Mapping([])
        let child = mapping[key] ?? Node.Mapping([]).node
        mapping[key] = try set(child, keys.dropFirst())
        return .mapping(mapping)
    }
    guard !keys.isEmpty else { throw ConfigError(file: file, mark: nil, message: "--set \(assignment): empty key") }
    return try set(root, keys[...])
}

private func stripMarks(_ n: Node) -> Node {
    switch n {
    case .scalar(let s): return .scalar(Node.Scalar(s.string, s.tag, s.style, nil))
    case .sequence(let s): return .sequence(Node.Sequence(s.map(stripMarks), s.tag, s.style, nil))
    case .mapping(let m): return .mapping(Node.Mapping(m.map { (stripMarks($0.key), stripMarks($0.value)) }, m.tag, m.style, nil))
    }
}

private extension Node.Mapping {
    var node: Node { .mapping(self) }
}

import TOMLKit

/// A problem in a configuration or rules file, located as `file:line: message`.
public struct ConfigProblem: Error, Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int?
    public var message: String

    public init(file: String, line: Int?, message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    public var description: String {
        if let line { return "\(file):\(line): \(message)" }
        return "\(file): \(message)"
    }
}

/// All problems found in one load; loading reports every problem, not just the first.
public struct ConfigErrors: Error, Sendable, CustomStringConvertible {
    public var problems: [ConfigProblem]
    public init(_ problems: [ConfigProblem]) { self.problems = problems }
    public var description: String { problems.map(\.description).joined(separator: "\n") }
}

/// A parsed TOML file plus enough of its text to point at lines: TOMLKit reports positions
/// for syntax errors only, so this finds the line of the n-th `[[array]]` header and of a key
/// inside it by looking at the text.
struct TOMLSource {
    let name: String
    let table: TOMLTable
    private let lines: [Substring]
    /// Line indices of every `[[header]]`, by header: finding the n-th is a lookup.
    private let arrayHeaders: [String: [Int]]

    init(name: String, text: String) throws(ConfigErrors) {
        self.name = name
        // On bytes: splitting on the Character "\n" walks grapheme clusters (a third of
        // loading the rules), and never splits a CRLF line, "\r\n" being one Character.
        lines = text.utf8.split(separator: 10, omittingEmptySubsequences: false).map { Substring($0) }
        var headers: [String: [Int]] = [:]
        for (n, l) in lines.enumerated() {
            let t = l.drop(while: { $0 == " " || $0 == "\t" })
            guard t.hasPrefix("[["), let close = t.firstRange(of: "]]") else { continue }
            headers[String(t[t.index(t.startIndex, offsetBy: 2)..<close.lowerBound]), default: []].append(n)
        }
        arrayHeaders = headers
        do {
            table = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw ConfigErrors([ConfigProblem(file: name, line: error.source.begin.line, message: error.description)])
        } catch {
            throw ConfigErrors([ConfigProblem(file: name, line: nil, message: "\(error)")])
        }
    }

    /// Line (1-based) of the `index`-th `[[header]]`, and of `key` inside it if given.
    func line(ofArray header: String, index: Int, key: String? = nil) -> Int? {
        guard let starts = arrayHeaders[header], index >= 0, index < starts.count else { return nil }
        let start = starts[index]
        guard let key else { return start + 1 }
        var n = start + 1
        while n < lines.count {
            let t = lines[n].drop(while: { $0 == " " || $0 == "\t" })
            if t.hasPrefix("[") { break }
            if keyMatches(t, key) { return n + 1 }
            n += 1
        }
        return start + 1
    }

    /// Line of a top-level `key` or of `[section]` / a key inside it.
    func line(ofSection section: String?, key: String?) -> Int? {
        var inSection = section == nil
        for (n, l) in lines.enumerated() {
            let t = l.drop(while: { $0 == " " || $0 == "\t" })
            if t.hasPrefix("[") {
                if let section, t.hasPrefix("[\(section)]") {
                    inSection = true
                    if key == nil { return n + 1 }
                } else {
                    if inSection && section != nil { return nil }
                    inSection = false
                }
            } else if inSection, let key, keyMatches(t, key) {
                return n + 1
            }
        }
        return nil
    }

    private func keyMatches(_ t: Substring, _ key: String) -> Bool {
        guard t.hasPrefix(key) else { return false }
        let rest = t.dropFirst(key.count).drop(while: { $0 == " " || $0 == "\t" })
        return rest.hasPrefix("=")
    }
}

/// Typed access to a TOML table that records problems instead of throwing, so one load
/// reports all of them, and that flags keys it was not asked about (unknown keys are errors).
struct TOMLReader {
    let source: TOMLSource
    let table: TOMLTable
    let locate: (String?) -> Int?
    var problems: [ConfigProblem] = []
    private var known: Set<String> = []

    init(source: TOMLSource, table: TOMLTable, locate: @escaping (String?) -> Int?) {
        self.source = source
        self.table = table
        self.locate = locate
    }

    mutating func problem(_ key: String?, _ message: String) {
        problems.append(ConfigProblem(file: source.name, line: locate(key), message: message))
    }

    mutating func string(_ key: String) -> String? {
        known.insert(key)
        guard let v = table[key] else { return nil }
        guard let s = v.string else { problem(key, "\(key) must be a string"); return nil }
        return s
    }

    mutating func int(_ key: String) -> Int? {
        known.insert(key)
        guard let v = table[key] else { return nil }
        guard let i = v.int else { problem(key, "\(key) must be an integer"); return nil }
        return i
    }

    mutating func double(_ key: String) -> Double? {
        known.insert(key)
        guard let v = table[key] else { return nil }
        if let d = v.double { return d }
        if let i = v.int { return Double(i) }
        problem(key, "\(key) must be a number")
        return nil
    }

    mutating func bool(_ key: String) -> Bool? {
        known.insert(key)
        guard let v = table[key] else { return nil }
        guard let b = v.bool else { problem(key, "\(key) must be true or false"); return nil }
        return b
    }

    mutating func strings(_ key: String) -> [String]? {
        known.insert(key)
        guard let v = table[key] else { return nil }
        guard let a = v.array else { problem(key, "\(key) must be an array of strings"); return nil }
        var out: [String] = []
        for e in a {
            guard let s = e.string else { problem(key, "\(key) must contain only strings"); return nil }
            out.append(s)
        }
        return out
    }

    mutating func ints(_ key: String) -> [Int]? {
        known.insert(key)
        guard let v = table[key] else { return nil }
        guard let a = v.array else { problem(key, "\(key) must be an array of integers"); return nil }
        var out: [Int] = []
        for e in a {
            guard let i = e.int else { problem(key, "\(key) must contain only integers"); return nil }
            out.append(i)
        }
        return out
    }

    mutating func tables(_ key: String) -> [TOMLTable] {
        known.insert(key)
        guard let v = table[key] else { return [] }
        guard let a = v.array else { problem(key, "\(key) must be an array of tables ([[\(key)]])"); return [] }
        var out: [TOMLTable] = []
        for e in a {
            guard let t = e.table else { problem(key, "\(key) must contain only tables"); return [] }
            out.append(t)
        }
        return out
    }

    mutating func subtable(_ key: String) -> TOMLTable? {
        known.insert(key)
        guard let v = table[key] else { return nil }
        guard let t = v.table else { problem(key, "\(key) must be a table ([\(key)])"); return nil }
        return t
    }

    /// Reports every key of the table that was never asked for.
    mutating func rejectUnknownKeys(context: String) {
        for key in table.keys where !known.contains(key) {
            problem(key, "unknown key \"\(key)\" in \(context)")
        }
    }
}

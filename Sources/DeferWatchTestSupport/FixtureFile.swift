import Foundation

/// An annotated fixture file: each log line may be preceded by `# expect: {json}` giving a
/// subset of the event fields it must produce; a line without one must produce no event.
/// Other `#` lines are comments; blank lines are ignored.
public struct FixtureFile {
    public struct Case {
        public var file: String
        public var lineNumber: Int
        public var line: String
        /// nil: the line must not be a delivery.
        public var expect: [String: Any]?
    }

    public let cases: [Case]

    public init(path: URL) throws {
        let text = try String(contentsOf: path, encoding: .utf8)
        var cases: [Case] = []
        var pending: [String: Any]?
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = String(raw)
            if line.trimmingCharacters(in: .whitespaces).isEmpty { continue }
            if line.hasPrefix("# expect:") {
                let json = line.dropFirst("# expect:".count).trimmingCharacters(in: .whitespaces)
                guard let obj = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] else {
                    throw FixtureError(message: "\(path.lastPathComponent):\(i + 1): expect is not a JSON object")
                }
                pending = obj
                continue
            }
            if line.hasPrefix("#") { continue }
            cases.append(Case(file: path.lastPathComponent, lineNumber: i + 1, line: line, expect: pending))
            pending = nil
        }
        self.cases = cases
    }

    /// All `*.fixtures` files in a directory.
    public static func all(in dir: URL) throws -> [FixtureFile] {
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".fixtures") }.sorted()
        return try names.map { try FixtureFile(path: dir.appendingPathComponent($0)) }
    }
}

public struct FixtureError: Error, CustomStringConvertible {
    public var message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}

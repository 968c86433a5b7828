import Foundation

/// Makes real journal files for tests with systemd-journal-remote (no journald needed):
/// entries in the journal export format on its standard input.
public enum JournalFile {
    public static let remote = URL(fileURLWithPath: "/lib/systemd/systemd-journal-remote")
    public static var isAvailable: Bool { FileManager.default.isExecutableFile(atPath: remote.path) }

    public struct Entry {
        public var time: Int64 // microseconds
        public var host: String
        public var identifier: String
        public var pid: Int
        public var message: String
        public init(time: Int64, host: String, identifier: String, pid: Int, message: String) {
            self.time = time
            self.host = host
            self.identifier = identifier
            self.pid = pid
            self.message = message
        }
    }

    /// Appends the entries to `file` (created if needed); returns how many were written.
    public static func append(_ entries: [Entry], to file: URL, bootID: String = "0123456789abcdef0123456789abcdef") throws {
        var text = ""
        for (i, e) in entries.enumerated() {
            text += "__REALTIME_TIMESTAMP=\(e.time)\n__MONOTONIC_TIMESTAMP=\(1_000_000 + i)\n_BOOT_ID=\(bootID)\n"
            text += "_HOSTNAME=\(e.host)\nSYSLOG_IDENTIFIER=\(e.identifier)\n_PID=\(e.pid)\nMESSAGE=\(e.message)\n\n"
        }
        let r = try ProcessRunner.run(remote, ["--output=\(file.path)", "-"], stdin: Data(text.utf8))
        guard r.status == 0 else { throw FixtureError(message: "systemd-journal-remote failed: \(r.stderr)") }
    }

    /// Syslog lines (`Nov 28 10:00:00 host prog[pid]: msg`, year given, UTC) as entries.
    public static func entries(fromSyslog text: String, year: Int) -> [Entry] {
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        var out: [Entry] = []
        for line in text.split(separator: "\n") {
            let f = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true)
            guard f.count == 6, let m = months.firstIndex(of: String(f[0])), let d = Int(f[1]) else { continue }
            let hms = f[2].split(separator: ":").compactMap { Int($0) }
            guard hms.count == 3 else { continue }
            var c = DateComponents()
            c.year = year; c.month = m + 1; c.day = d; c.hour = hms[0]; c.minute = hms[1]; c.second = hms[2]
            c.timeZone = TimeZone(identifier: "UTC")
            guard let date = Calendar(identifier: .gregorian).date(from: c) else { continue }
            var tag = f[4].dropLast() // "prog[pid]:" -> "prog[pid]"
            var pid = 1
            if let open = tag.firstIndex(of: "["), tag.last == "]" {
                pid = Int(tag[tag.index(after: open)..<tag.index(before: tag.endIndex)]) ?? 1
                tag = tag[..<open]
            }
            out.append(Entry(time: Int64(date.timeIntervalSince1970) * 1_000_000, host: String(f[3]),
                             identifier: String(tag), pid: pid, message: String(f[5])))
        }
        return out
    }
}

#if canImport(Glibc)
import Glibc
#endif
import DeferWatchCore

/// What `deferwatch run` reads: the followed files and the journal, each read a slice at a
/// time into the engine, with what the status says of each (its newest entry, its error,
/// whether it is behind). On the daemon's one thread (it owns the journal handle).
final class SourceSet {
    private(set) var followers: [FileFollower] = []
    private(set) var journal: JournalReader?
    /// The newest entry's time, per source name.
    private var times: [String: Int64] = [:]
    /// The error a source is in, per name (cleared when it reads again).
    private var errors: [String: String] = [:]
    private var journalBehind = false
    /// Whether the last `read` stopped at a budget with more to read.
    private(set) var backlog = false
    private var reportedUnreadable = 0
    private var lastUnreadableReport = -Double.infinity

    /// A backlog is read in slices, so checkpoints, signals and the watchdog keep coming.
    static let fileBudget = 8 << 20
    static let journalBudget = 20_000

    /// Follows the files from their checkpoints in `saved`, and the journal when configured.
    /// A first start begins at the end of each, or at the first line within the lookback;
    /// when state was lost (`lostSince`, a marker's date), at the lines since then.
    init(sources: SourcesConfig, saved: SavedState, firstStart: Bool, lostSince: Int64?,
         header: LineHeaderParser) throws(InputError) {
        // Lost state: from the last time it was saved (a second early: the clocks' grain).
        // A marker dated ahead of the clock (the clock was set back): the last hour.
        let lookback = max(sources.lookback, lostSince.map { t in
            let back = wallMicroseconds() &- t
            return back < 0 ? TrackerConfig.hour : back &+ 1_000_000
        } ?? 0)
        let start: FileFollower.Start
        if !firstStart {
            start = .beginning
        } else if lookback > 0 {
            start = .since(time: wallMicroseconds() - lookback) { line in
                var h = header
                return h.parse(line, defaultHostBuffer: Bytes(start: nil, count: 0))?.time
            }
        } else {
            start = .end
        }
        for path in sources.files {
            let cp = saved.files.first { $0.path == path }
            let f = FileFollower(path: path, checkpoint: cp, start: start, rotatedQuiet: sources.rotatedQuiet)
            f.note = { writeStderr("deferwatch: " + $0) }
            do {
                try f.pinStart()
            } catch {
                // Reported again by the polls, which keep trying.
                writeStderr("deferwatch: \(error)")
                errors[path] = "\(error)"
            }
            followers.append(f)
        }
        if sources.journal {
            let reader: JournalReader
            if let d = sources.journalDirectory { reader = try JournalReader(path: d) } else { reader = try JournalReader(system: ()) }
            reader.seek(after: saved.journal, lookback: firstStart && lookback > 0 ? lookback : nil, firstStart: firstStart)
            journal = reader
        }
    }

    /// One slice of each source into `engine`. `report` gets what must reach syslog too (a
    /// damaged journal).
    func read(into engine: inout Engine, report: (String) -> Void) {
        backlog = false
        for f in followers {
            do {
                try f.poll(budget: Self.fileBudget) { line in engine.ingest(line: line) }
                if f.hasMore { backlog = true }
                if let t = engine.lastTime { times[f.path] = t }
                if errors.removeValue(forKey: f.path) != nil { writeStderr("deferwatch: \(f.path) readable again") }
            } catch {
                if errors[f.path] != "\(error)" { writeStderr("deferwatch: \(error)") }
                errors[f.path] = "\(error)"
            }
        }
        guard let journal else { return }
        do {
            var last: Int64?
            let more = try journal.readToEnd(limit: Self.journalBudget) { record in
                if let t = record.time { last = t }
                engine.ingest(record: record)
            }
            if let last { times[journal.path] = last }
            if journal.unreadable > reportedUnreadable && monotonicSeconds() - lastUnreadableReport >= 60 {
                lastUnreadableReport = monotonicSeconds()
                let message = "journal \(journal.path): \(journal.unreadable) entries could not be read so far (a damaged journal file: journalctl --verify says where); reading on past them"
                writeStderr("deferwatch: \(message)")
                report(message)
                reportedUnreadable = journal.unreadable
            }
            journalBehind = more
            if more { backlog = true }
            errors[journal.path] = nil
        } catch {
            if errors[journal.path] != "\(error)" { writeStderr("deferwatch: \(error)") }
            errors[journal.path] = "\(error)"
        }
    }

    /// Waits for input: the journal's wakeup, or the poll interval.
    func wait(microseconds usec: UInt64) {
        if let journal { journal.wait(timeout: usec) } else { usleep(useconds_t(usec)) }
    }

    /// Lines skipped for being too long, in every file followed.
    var oversizedLines: Int { followers.reduce(0) { $0 + $1.oversizedLines } }

    /// Where each file was read up to.
    var fileCheckpoints: [FileCheckpoint] { followers.compactMap(\.checkpoint) }

    /// "following PATH (error)" for each source, for the line at the start.
    var described: [String] {
        var read = followers.map { "following \($0.path)" + (errors[$0.path].map { " (\($0))" } ?? "") }
        if let journal { read.append("following \(journal.path)" + (journal.hasFiles ? "" : " (NO JOURNAL FILES TO READ)")) }
        return read
    }

    /// Each source as the status shows it, at wall time `wall` (microseconds).
    func statuses(wall: Int64) -> [StatusReport.SourceStatus] {
        func lag(_ name: String, behind: Bool) -> Double {
            guard behind, let t = times[name] else { return 0 }
            return max(0, Double(wall - t) / 1e6)
        }
        var out: [StatusReport.SourceStatus] = []
        if let journal {
            out.append(.init(kind: "journal", name: journal.path, position: journal.position?.cursor ?? "",
                             lagBytes: nil, lagSeconds: lag(journal.path, behind: journalBehind),
                             lastEntry: times[journal.path].map(CivilTime.rfc3339),
                             state: errors[journal.path] ?? (journal.hasFiles ? "following"
                                 : "no journal files to read (is journald running, and may deferwatch read its files?)"),
                             unreadable: journal.unreadable > 0 ? journal.unreadable : nil))
        }
        for f in followers {
            let unread = f.unreadBytes
            out.append(.init(kind: "file", name: f.path, position: f.checkpoint.map { String($0.offset) } ?? "0",
                             lagBytes: unread, lagSeconds: lag(f.path, behind: unread > 0),
                             lastEntry: times[f.path].map(CivilTime.rfc3339),
                             state: errors[f.path] ?? (f.isOpen ? "following" : access(f.path, F_OK) == 0 ? "starting" : "waiting for the file")))
        }
        return out
    }
}

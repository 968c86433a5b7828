#if canImport(Glibc)
import Glibc
#endif
import DeferWatchCore

/// What `deferwatch run` reads: the followed files and the journal, each read a slice at a
/// time into the engine, with what the status says of each (its newest entry, its error,
/// whether it is behind). On the daemon's one thread (it owns the journal handle).
final class SourceSet {
    private(set) var sources: [any LogSource] = []
    private let clock: any DaemonClock
    /// The newest entry's time, per source name.
    private var times: [String: Int64] = [:]
    /// The error a source is in, per name (cleared when it reads again).
    private var errors: [String: String] = [:]
    /// The sources whose last read stopped at its budget with more to read.
    private var behind: Set<String> = []
    /// Whether any source has more to read than its last slice took.
    var backlog: Bool { !behind.isEmpty }
    private var reportedUnreadable = 0
    private var lastUnreadableReport = -Double.infinity

    /// A backlog is read in slices, so checkpoints, signals and the watchdog keep coming.
    static let fileBudget = 8 << 20
    static let journalBudget = 20_000

    /// What a start hands to whatever makes the sources: the configuration, the saved
    /// state, and where to begin when nothing was saved.
    struct Request {
        var sources: SourcesConfig
        var saved: SavedState
        var firstStart: Bool
        /// When state that should be there was last saved, if it is gone.
        var lostSince: Int64?
        var header: LineHeaderParser
        var clock: any DaemonClock
    }

    /// `made` are the sources, with the errors they start in by name.
    init(_ made: (sources: [any LogSource], errors: [String: String]), clock: any DaemonClock) {
        sources = made.sources
        errors = made.errors
        self.clock = clock
    }

    /// The configured files, from their checkpoints in `saved`, and the journal when
    /// configured. A first start begins at the end of each, or at the first line within the
    /// lookback; when state was lost (`lostSince`, a marker's date), at the lines since then.
    static func system(_ r: Request) throws(InputError) -> (sources: [any LogSource], errors: [String: String]) {
        let sources = r.sources
        let wall = r.clock.wall()
        // Lost state: from the last time it was saved (a second early: the clocks' grain).
        // A marker dated ahead of the clock (the clock was set back): the last hour.
        let lookback = max(sources.lookback, r.lostSince.map { t in
            let back = wall &- t
            return back < 0 ? TrackerConfig.hour : back &+ 1_000_000
        } ?? 0)
        let start: FileFollower.Start
        if !r.firstStart {
            start = .beginning
        } else if lookback > 0 {
            let header = r.header
            start = .since(time: wall - lookback) { line in
                var h = header
                return h.parse(line, defaultHostBuffer: Bytes(start: nil, count: 0))?.time
            }
        } else {
            start = .end
        }
        var out: [any LogSource] = []
        var errors: [String: String] = [:]
        for path in sources.files {
            let cp = r.saved.files.first { $0.path == path }
            let f = FileFollower(path: path, checkpoint: cp, start: start, rotatedQuiet: sources.rotatedQuiet)
            f.note = { writeStderr("deferwatch: " + $0) }
            do {
                try f.pinStart()
            } catch {
                // Reported again by the polls, which keep trying.
                writeStderr("deferwatch: \(error)")
                errors[path] = "\(error)"
            }
            out.append(f)
        }
        if sources.journal {
            let reader: JournalReader
            if let d = sources.journalDirectory { reader = try JournalReader(path: d) } else { reader = try JournalReader(system: ()) }
            reader.seek(after: r.saved.journal, lookback: r.firstStart && lookback > 0 ? lookback : nil, firstStart: r.firstStart)
            out.append(reader)
        }
        return (out, errors)
    }

    /// One slice of each source into `engine`. `report` gets what must reach syslog too (a
    /// damaged journal).
    func read(into engine: inout Engine, report: (String) -> Void) {
        for s in sources {
            do {
                if try s.read(into: &engine) { behind.insert(s.name) } else { behind.remove(s.name) }
                if let t = engine.lastTime { times[s.name] = t }
                if errors.removeValue(forKey: s.name) != nil { writeStderr("deferwatch: \(s.name) readable again") }
            } catch {
                behind.remove(s.name)
                if errors[s.name] != "\(error)" { writeStderr("deferwatch: \(error)") }
                errors[s.name] = "\(error)"
            }
            let unreadable = s.unreadable
            if unreadable > reportedUnreadable && clock.monotonic() - lastUnreadableReport >= 60 {
                lastUnreadableReport = clock.monotonic()
                let message = "journal \(s.name): \(unreadable) entries could not be read so far (a damaged journal file: journalctl --verify says where); reading on past them"
                writeStderr("deferwatch: \(message)")
                report(message)
                reportedUnreadable = unreadable
            }
        }
    }

    /// Waits for input: the journal's wakeup, or the poll interval.
    func wait(microseconds usec: UInt64) {
        for s in sources where s.wait(microseconds: usec) {
            clock.waited(microseconds: usec)
            return
        }
        clock.sleep(microseconds: usec)
    }

    /// Lines skipped for being too long, in every file followed.
    var oversizedLines: Int { sources.reduce(0) { $0 + $1.oversizedLines } }

    /// Where each file was read up to.
    var fileCheckpoints: [FileCheckpoint] {
        sources.compactMap { if case .file(let c) = $0.position { return c } else { return nil } }
    }

    /// Where the journal was read up to.
    var journalPosition: JournalReader.Position? {
        for s in sources { if case .journal(let p) = s.position { return p } }
        return nil
    }

    /// "following PATH (error)" for each source, for the line at the start.
    var described: [String] {
        sources.map { s in "following \(s.name)" + (errors[s.name].map { " (\($0))" } ?? s.startNote) }
    }

    /// Each source as the status shows it, at wall time `wall` (microseconds): the journal
    /// first, then the files.
    func statuses(wall: Int64) -> [StatusReport.SourceStatus] {
        func lag(_ name: String, behind: Bool) -> Double {
            guard behind, let t = times[name] else { return 0 }
            return max(0, Double(wall - t) / 1e6)
        }
        let ordered = sources.filter { $0.kind == "journal" } + sources.filter { $0.kind != "journal" }
        return ordered.map { s in
            let unread = s.unreadBytes
            return .init(kind: s.kind, name: s.name, position: s.position.shown,
                         lagBytes: unread, lagSeconds: lag(s.name, behind: unread.map { $0 > 0 } ?? behind.contains(s.name)),
                         lastEntry: times[s.name].map(CivilTime.rfc3339),
                         state: errors[s.name] ?? s.state,
                         unreadable: s.unreadable > 0 ? s.unreadable : nil)
        }
    }
}

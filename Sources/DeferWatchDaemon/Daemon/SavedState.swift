import DeferWatchCore

/// Positions and the counters that go with them, saved together: after a crash the lines
/// after the checkpoint are read again and counted again, exactly once in all.
struct QueueFileRef: Codable, Equatable {
    var generation: UInt64
    var summary: QueueBook.FileSummary
    var name: String { SideFile.queue(generation) }
}

struct SavedState: Codable {
    var files: [FileCheckpoint] = []
    var journal: JournalReader.Position?
    var counters = LineCounters()
    /// Attempts by status and deferrals by cause, saved with the line counters so that the
    /// status text adds up after a restart (nil in states of earlier versions).
    var deliveries: DeliveryCounters?
    var tracker: DeferralTracker.Snapshot?
    /// Alert lines not known to be in syslog yet, and the next line's number (AlertOutbox).
    var outbox: [AlertOutbox.Entry]?
    var nextSeq: Int64?
    /// The deferred queue's file beside the state (`queue.GENERATION.bin`, QueueBook+File),
    /// with its size and sum; nil with the queue off.
    var queueFile: QueueFileRef?
    /// The queue as the first version with one kept it, inside the state (columns as JSON
    /// arrays): read, no longer written.
    var queue: QueueBook.Snapshot?

    /// What in a loaded state no run of deferwatch can have written: each problem names
    /// the field. A state with problems is refused whole: half of it would be worse than
    /// none (its counters and positions belong together), and taking it would let a
    /// hostile file make arithmetic trap or memory run out.
    var problems: [String] {
        var out: [String] = []
        let count = 0...(Int(1) << 52)
        let time = Int64(0)...(Int64(1) << 60)
        for (i, f) in files.enumerated() {
            if f.path.isEmpty || f.path.utf8.count > 4096 { out.append("files[\(i)].path is empty or over 4096 bytes") }
            if !(0...(Int64(1) << 52)).contains(f.offset) { out.append("files[\(i)].offset \(f.offset) is out of range") }
            if !(0...FileFollower.fingerprintBytes).contains(f.fingerprintLength) {
                out.append("files[\(i)].fingerprintLength \(f.fingerprintLength) is not between 0 and \(FileFollower.fingerprintBytes)")
            }
        }
        for (i, f) in files.enumerated() {
            if let r = f.rotated, r.count > 1001 { out.append("files[\(i)].rotated holds \(r.count) entries") }
            for (j, r) in (f.rotated ?? []).prefix(1002).enumerated() {
                if !(0...(Int64(1) << 52)).contains(r.offset) || !(0...FileFollower.fingerprintBytes).contains(r.fingerprintLength)
                    || r.path.utf8.count > 4096 || r.rotated != nil {
                    out.append("files[\(i)].rotated[\(j)] has an offset, fingerprint or path out of range")
                }
            }
            if let t = f.seenAt, t < 0 { out.append("files[\(i)].seenAt \(t) is out of range") }
            if let r = f.read, r.count > 1000 || r.contains(where: { !(0...FileFollower.fingerprintBytes).contains($0.fingerprintLength) }) {
                out.append("files[\(i)].read holds \(r.count) entries or a fingerprint out of range")
            }
        }
        if files.count > 10_000 { out.append("files holds \(files.count) entries") }
        if let j = journal, j.cursor.utf8.count > 4096 || j.bootID.utf8.count > 64 { out.append("journal.cursor or journal.bootID is too long") }
        let c = counters
        for (name, v) in [("lines", c.lines), ("postfixLines", c.postfixLines), ("eximLines", c.eximLines),
                          ("otherProgramLines", c.otherProgramLines), ("ownLines", c.ownLines),
                          ("unrecognisedLines", c.unrecognisedLines), ("oversizedLines", c.oversizedLines),
                          ("deliveries", c.deliveries)] where !count.contains(v) {
            out.append("counters.\(name) \(v) is out of range")
        }
        if let d = deliveries, !d.isSane { out.append("deliveries has counts out of range or of another shape") }
        if let o = outbox {
            if o.count > 1_000_000 { out.append("outbox holds \(o.count) lines") }
            if o.contains(where: { $0.seq < 1 || $0.seq >= Int64(1) << 52 || $0.line.utf8.count > 16_384 }) {
                out.append("outbox has a line number out of range or a line over 16 KiB")
            }
        }
        if let n = nextSeq, !(1...(Int64(1) << 52)).contains(n) { out.append("nextSeq \(n) is out of range") }
        if let q = queue { out += q.problems }
        if let f = queueFile, f.generation < 1 || f.generation >= UInt64(1) << 62 || f.summary.bytes < 12 || f.summary.bytes > 1 << 40 {
            out.append("queueFile has a generation or size out of range")
        }
        guard let t = tracker else { return out }
        if !(1...(Int(1) << 40)).contains(t.nextID) { out.append("tracker.nextID \(t.nextID) is out of range") }
        if t.now != Int64.min && !time.contains(t.now) { out.append("tracker.now \(t.now) is out of range") }
        if let n = t.newestEvent, n != Int64.min && !time.contains(n) { out.append("tracker.newestEvent \(n) is out of range") }
        if t.alerts.count > 1_000_000 { out.append("tracker.alerts holds \(t.alerts.count) alerts") }
        for (i, a) in t.alerts.enumerated() {
            let times = [a.openedAt, a.firstSeen, a.lastSeen, a.nextRemind] + (a.lastSuccess.map { [$0] } ?? [])
            if times.contains(where: { !time.contains($0) }) { out.append("tracker.alerts[\(i)] has a time out of range") }
            let counts = [a.deferrals, a.attempts, a.expired, a.recurring, a.escalations]
            if counts.contains(where: { !count.contains($0) }) { out.append("tracker.alerts[\(i)] has a count out of range") }
            if a.id < 1 || a.id >= t.nextID { out.append("tracker.alerts[\(i)].id \(a.id) is not below tracker.nextID") }
            if a.recipientHashes.count > Alert.recipientCap { out.append("tracker.alerts[\(i)] holds too many recipients") }
            if let d = a.destinations, !count.contains(d) { out.append("tracker.alerts[\(i)].destinations \(d) is out of range") }
            if a.sample.utf8.count > Alert.sampleLimit * 8 { out.append("tracker.alerts[\(i)].sample is too long") }
            if out.count > 20 { break }
        }
        return out
    }
}

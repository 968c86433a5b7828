import DeferWatchCore

/// Alert lines on their way to syslog, written ahead: a transition is saved in the
/// checkpoint (with the positions after the lines that raised it and the tracker that holds
/// its alert) before it is given to the syslog sink, and stays there until the sink has
/// written it. The sink keeps a watermark, the highest line it wrote, in a file of its own.
/// So after a kill -9 a restart neither raises the alert again (the tracker has it) nor
/// loses its line (the outbox has it): it writes the outbox's lines above the watermark.
/// What remains: a line written in the microseconds between the datagram and the watermark's
/// update is written again; after a power loss, what the page cache had not written yet.
struct AlertOutbox {
    struct Entry: Codable, Equatable {
        var seq: Int64
        var line: String
    }

    /// The next line's sequence number (numbers only grow, across restarts too).
    private(set) var nextSeq: Int64 = 1
    /// Given to the sink, not known to be written yet.
    private var given: [Entry] = []
    /// What a line says: a transition of an alert, or what its DNS checks found.
    enum Item {
        case transition(AlertTransition)
        case check(ClaimCheck, Alert?)
    }

    /// Raised since the last checkpoint, not given to the sink yet.
    private(set) var pending: [(entry: Entry, item: Item)] = []

    mutating func add(_ item: Item, line: [UInt8]) {
        pending.append((Entry(seq: nextSeq, line: String(decoding: line, as: UTF8.self)), item))
        nextSeq += 1
    }

    /// The pending lines, to be given to the sink now (the checkpoint holds them).
    mutating func takePending() -> [(entry: Entry, item: Item)] {
        let out = pending
        given += out.map(\.entry)
        pending = []
        return out
    }

    /// What the checkpoint keeps: every line not known written, the newest `limit` (the
    /// sink's queue bound: older ones it would have dropped too).
    mutating func saved(writtenThrough: Int64, limit: Int) -> [Entry] {
        given.removeAll { $0.seq <= writtenThrough }
        let all = given + pending.map(\.entry)
        return Array(all.suffix(max(1, limit)))
    }

    /// Takes back an earlier run's outbox: the lines syslog does not have yet, to be given
    /// to the sink again.
    mutating func restore(_ entries: [Entry], nextSeq saved: Int64?, writtenThrough: Int64) -> [Entry] {
        // A watermark left by an earlier state must never hide new lines.
        nextSeq = max(saved ?? 1, writtenThrough + 1, 1)
        let resend = entries.filter { $0.seq > writtenThrough && $0.seq < nextSeq }
        given = resend
        return resend
    }
}

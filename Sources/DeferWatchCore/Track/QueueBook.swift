/// The deferred queue as the logs show it: every message with a recipient whose last attempt
/// was deferred, with when the message arrived, and per such recipient its destination
/// (domain, relay, provider), its cause and its last attempt. A recipient leaves when an
/// attempt delivers, bounces or expires it; a message leaves with its last recipient, with
/// Postfix's `removed` or Exim's `Completed`, or after `forgetAfter` with no attempt logged.
/// Messages never deferred are never kept: most lines cost one failed lookup.
///
/// Memory is bounded by `QueueConfig.maxMessages` (about 80 bytes a message with one
/// deferred recipient: the message 40, the recipient 32, its index slots about 8; and each
/// distinct destination name once). Pure: time comes from the
/// events.
public struct QueueBook: Sendable {
    public private(set) var config: QueueConfig

    /// 40 bytes: the host's name id, the MTA and the at-risk mark share 32 bits (a name id
    /// is below 2^30: a saved queue with more names is refused, and a live table that large
    /// would hold over 16 GB of names). Its last attempt is its recipients' newest.
    struct Message: Sendable {
        var key: Int
        var queueID: String
        /// When the message arrived (Postfix: the line's time less its `delay=`; Exim: the
        /// time in its message id), else when it was first seen deferred.
        var arrival: Int64
        /// The first of its deferred recipients (an index into `recipients`), -1: none.
        var head: Int32
        /// Bit 31: Exim; bit 30: at risk counted; the rest: the host's name id.
        private var packed: UInt32

        init(key: Int, queueID: String, arrival: Int64, head: Int32, host: Int32, mta: MTA, atRiskCounted: Bool) {
            self.key = key
            self.queueID = queueID
            self.arrival = arrival
            self.head = head
            packed = 0
            self.host = host
            self.mta = mta
            self.atRiskCounted = atRiskCounted
        }

        private static let hostBits: UInt32 = 0x3FFF_FFFF
        private static let eximBit: UInt32 = 1 << 31
        private static let riskBit: UInt32 = 1 << 30

        var host: Int32 {
            get { Int32(bitPattern: packed & Self.hostBits) }
            set { packed = (packed & ~Self.hostBits) | (UInt32(bitPattern: newValue) & Self.hostBits) }
        }

        var mta: MTA {
            get { packed & Self.eximBit != 0 ? .exim : .postfix }
            set {
                switch newValue {
                case .postfix: packed &= ~Self.eximBit
                case .exim: packed |= Self.eximBit
                }
            }
        }

        /// Counted by an alert as at risk (within `atRiskBefore` of expiring).
        var atRiskCounted: Bool {
            get { packed & Self.riskBit != 0 }
            set { if newValue { packed |= Self.riskBit } else { packed &= ~Self.riskBit } }
        }
    }

    /// 32 bytes, in this order: the recipient's key is 32 bits (it tells apart the
    /// recipients of one message only).
    struct Recipient: Sendable {
        var lastAttempt: Int64
        var key: UInt32
        var domain: Int32
        var relay: Int32
        var provider: Int32
        var next: Int32
        var cause: Cause
    }

    var index = MessageIndex()
    var messages: [Message] = []
    private var freeMessages: [Int32] = []
    var recipients: [Recipient] = []
    private var freeRecipients: [Int32] = []
    /// Destination and host names, each kept once (index 0: none).
    var names = NameTable()

    /// Messages not followed because `maxMessages` were.
    public private(set) var dropped = 0
    /// Messages forgotten after `forgetAfter` with no attempt.
    public private(set) var forgotten = 0
    /// The newest time of an event taken.
    public private(set) var now: Int64 = Int64.min
    /// Moves on with every change of what the book holds (a checkpoint with the same count
    /// need not write the queue again).
    public private(set) var changes: UInt64 = 0
    private var nextSweep: Int64 = Int64.min

    public init(config: QueueConfig = QueueConfig()) {
        self.config = config
    }

    public mutating func reconfigure(_ c: QueueConfig) { config = c }

    /// Messages followed now.
    public var count: Int { index.count }

    /// What an event did to the message's standing.
    public enum Change: Equatable, Sendable {
        case none
        /// The message is within `atRiskBefore` of expiring, and no alert counted it yet.
        case atRisk
    }

    // MARK: - Taking events

    /// A delivery attempt. Events without a time, recipient or queue id are not followed.
    @discardableResult
    /// `key`: the message's `SenderBook.key(of:)` when the caller has it (else made here
    /// when needed).
    public mutating func take(_ e: DeliveryEvent, key known: Int? = nil) -> Change {
        guard let t = e.time else { return .none }
        if t > now { now = t }
        sweepIfDue()
        if e.status == .deferred {
            guard let r = e.recipient else { return .none }
            return deferred(e, key: known ?? SenderBook.key(of: e), recipient: r, at: t)
        }
        if index.isEmpty { return .none }
        let key = known ?? SenderBook.key(of: e)
        guard let m = index.find(key, in: messages) else { return .none }
        if let r = e.recipient {
            removeRecipient(Self.recipientKey(r), of: Int(m))
        } else if e.status == .expired {
            removeMessage(key, Int(m))
        }
        return .none
    }

    /// A message record: a message that left the queue.
    public mutating func take(_ r: MessageRecord) {
        guard case .removed = r.kind, let m = index.find(r.message, in: messages) else { return }
        removeMessage(r.message, Int(m))
    }

    private mutating func deferred(_ e: DeliveryEvent, key: Int, recipient r: String, at t: Int64) -> Change {
        changes &+= 1
        let m: Int
        if let i = index.find(key, in: messages) {
            m = Int(i)
        } else {
            guard index.count < config.maxMessages else {
                dropped &+= 1
                return .none
            }
            let msg = Message(key: key, queueID: e.queueID, arrival: Self.plausibleArrival(e.arrival, at: t) ?? t,
                              head: -1, host: names.id(e.host), mta: e.mta, atRiskCounted: false)
            if let f = freeMessages.popLast() {
                messages[Int(f)] = msg
                m = Int(f)
            } else {
                m = messages.count
                messages.append(msg)
            }
            index.insert(Int32(m), in: messages)
        }
        // A later line may know the arrival better (the first one seen had no delay=).
        if let a = Self.plausibleArrival(e.arrival, at: t), a < messages[m].arrival { messages[m].arrival = a }
        let rk = Self.recipientKey(r)
        let domain = names.id(e.domain ?? "")
        let relay = names.id(e.relay ?? "")
        let provider = names.id(e.provider ?? "")
        var i = messages[m].head
        while i >= 0 {
            if recipients[Int(i)].key == rk { break }
            i = recipients[Int(i)].next
        }
        let cause = e.cause ?? .other
        if i >= 0 {
            recipients[Int(i)].lastAttempt = max(recipients[Int(i)].lastAttempt, t)
            recipients[Int(i)].domain = domain
            recipients[Int(i)].relay = relay
            recipients[Int(i)].provider = provider
            recipients[Int(i)].cause = cause
        } else {
            let rec = Recipient(lastAttempt: t, key: rk, domain: domain, relay: relay, provider: provider,
                                next: messages[m].head, cause: cause)
            let n: Int32
            if let f = freeRecipients.popLast() {
                recipients[Int(f)] = rec
                n = f
            } else {
                n = Int32(truncatingIfNeeded: recipients.count)
                recipients.append(rec)
            }
            messages[m].head = n
        }
        guard !messages[m].atRiskCounted else { return .none }
        let expires = messages[m].arrival &+ config.lifetime(messages[m].mta)
        return expires &- t <= config.atRiskBefore ? .atRisk : .none
    }

    /// An alert counted the message (its `SenderBook.key(of:)`) as at risk, after `take`
    /// said `.atRisk`: it is not offered again.
    public mutating func countedAtRisk(key: Int) {
        changes &+= 1
        if let m = index.find(key, in: messages) { messages[Int(m)].atRiskCounted = true }
    }

    /// An arrival time a line gives, if believable: not after the line, not a year before.
    static func plausibleArrival(_ a: Int64?, at t: Int64) -> Int64? {
        guard let a, a <= t, t &- a <= 366 * 24 * TrackerConfig.hour else { return nil }
        return a
    }

    private mutating func removeRecipient(_ rk: UInt32, of m: Int) {
        changes &+= 1
        var prev: Int32 = -1
        var i = messages[m].head
        while i >= 0 {
            let next = recipients[Int(i)].next
            if recipients[Int(i)].key == rk {
                if prev < 0 { messages[m].head = next } else { recipients[Int(prev)].next = next }
                freeRecipients.append(i)
                break
            }
            prev = i
            i = next
        }
        if messages[m].head < 0 { removeMessage(messages[m].key, m) }
    }

    private mutating func removeMessage(_ key: Int, _ m: Int) {
        changes &+= 1
        var i = messages[m].head
        while i >= 0 {
            freeRecipients.append(i)
            i = recipients[Int(i)].next
        }
        index.remove(key, in: messages)
        messages[m].head = -1
        messages[m].queueID = ""
        freeMessages.append(Int32(m))
        if index.isEmpty {
            messages.removeAll(keepingCapacity: true)
            freeMessages.removeAll(keepingCapacity: true)
            recipients.removeAll(keepingCapacity: true)
            freeRecipients.removeAll(keepingCapacity: true)
        }
    }

    /// Once an hour of log time: messages with no attempt for `forgetAfter` go.
    private mutating func sweepIfDue() {
        guard now >= nextSweep else { return }
        nextSweep = now &+ TrackerConfig.hour
        guard !index.isEmpty else { return }
        let cutoff = now &- config.forgetAfter
        var stale: [(Int, Int)] = []
        for m in index.values where lastAttempt(of: Int(m)) < cutoff { stale.append((messages[Int(m)].key, Int(m))) }
        for (key, m) in stale { removeMessage(key, m) }
        forgotten &+= stale.count
        compactNames()
    }

    /// Names of destinations no longer queued are dropped once they are most of the table.
    private mutating func compactNames() {
        guard names.names.count > 4096, names.names.count > 4 * (recipients.count - freeRecipients.count) else { return }
        changes &+= 1
        var fresh = NameTable()
        for m in index.values {
            messages[Int(m)].host = fresh.id(names[messages[Int(m)].host])
            var i = messages[Int(m)].head
            while i >= 0 {
                recipients[Int(i)].domain = fresh.id(names[recipients[Int(i)].domain])
                recipients[Int(i)].relay = fresh.id(names[recipients[Int(i)].relay])
                recipients[Int(i)].provider = fresh.id(names[recipients[Int(i)].provider])
                i = recipients[Int(i)].next
            }
        }
        names = fresh
    }

    /// The message's last attempt: the newest of its deferred recipients'.
    func lastAttempt(of m: Int) -> Int64 {
        var t = Int64.min
        var i = messages[m].head
        while i >= 0 {
            t = max(t, recipients[Int(i)].lastAttempt)
            i = recipients[Int(i)].next
        }
        return t
    }

    /// FNV-1a of a recipient address, folded to 32 bits.
    static func recipientKey(_ r: String) -> UInt32 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in r.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return fold(h)
    }

    /// A saved key (queue files before the 32-bit keys held the whole 64-bit hash; folding
    /// it again gives the same key).
    static func fold(_ h: UInt64) -> UInt32 {
        UInt32(truncatingIfNeeded: h ^ (h >> 32))
    }
}

/// Strings kept once, by a small number (0: the empty string).
struct NameTable: Sendable {
    private(set) var names: [String] = [""]
    private var ids: [String: Int32] = ["": 0]
    private var last = ""
    private var lastID: Int32 = 0

    mutating func id(_ s: String) -> Int32 {
        if s == last { return lastID }
        let i: Int32
        if let known = ids[s] {
            i = known
        } else {
            i = Int32(truncatingIfNeeded: names.count)
            names.append(s)
            ids[s] = i
        }
        last = s
        lastID = i
        return i
    }

    subscript(_ i: Int32) -> String { names[Int(i)] }

    /// The id of a name, any case (nil: unknown or empty).
    func find(_ s: String) -> Int32? {
        guard !s.isEmpty else { return nil }
        if let i = ids[s] { return i }
        let l = s.lowercased()
        return names.firstIndex { $0.lowercased() == l }.map { Int32(truncatingIfNeeded: $0) }
    }
}

extension QueueBook {
    /// What a checkpoint keeps of the queue, column by column (a restart does not forget
    /// what is stuck). Names are by index into `names`.
    public struct Snapshot: Codable, Sendable, Equatable {
        public var names: [String]
        public var queueIDs: [String]
        public var hosts: [Int32]
        public var mtas: [MTA]
        public var arrivals: [Int64]
        public var lastAttempts: [Int64]
        public var atRiskCounted: [Bool]
        /// Per recipient: its message (an index into the columns above), key, destination
        /// names, cause and last attempt.
        public var recipientMessages: [Int32]
        public var recipientKeys: [Int]
        public var recipientNames: [Int32]
        public var causes: [Cause]
        public var recipientAttempts: [Int64]
        public var dropped: Int
        public var forgotten: Int
        public var now: Int64

        /// What no run of deferwatch can have written (a hostile or damaged state file).
        public var problems: [String] {
            var out: [String] = []
            let n = queueIDs.count
            if [hosts.count, mtas.count, arrivals.count, lastAttempts.count, atRiskCounted.count].contains(where: { $0 != n }) {
                out.append("queue: the message columns differ in length")
            }
            let r = recipientMessages.count
            if [recipientKeys.count, causes.count, recipientAttempts.count].contains(where: { $0 != r }) || recipientNames.count != 3 * r {
                out.append("queue: the recipient columns differ in length")
            }
            if n > 100_000_000 || r > 1_000_000_000 || names.count > 1_000_000_000 { out.append("queue: too many entries") }
            if names.first != "" { out.append("queue: names[0] is not empty") }
            if queueIDs.contains(where: { $0.isEmpty || $0.utf8.count > 32 }) { out.append("queue: a queue id is empty or over 32 bytes") }
            if names.contains(where: { $0.utf8.count > 1024 }) { out.append("queue: a name is over 1024 bytes") }
            if hosts.contains(where: { $0 < 0 || Int($0) >= names.count }) || recipientNames.contains(where: { $0 < 0 || Int($0) >= names.count }) {
                out.append("queue: a name index is out of range")
            }
            if recipientMessages.contains(where: { $0 < 0 || Int($0) >= n }) { out.append("queue: a recipient's message is out of range") }
            let time = Int64(0)...(Int64(1) << 60)
            if arrivals.contains(where: { !time.contains($0) }) || lastAttempts.contains(where: { !time.contains($0) })
                || recipientAttempts.contains(where: { !time.contains($0) }) || (now != Int64.min && !time.contains(now)) {
                out.append("queue: a time is out of range")
            }
            if dropped < 0 || forgotten < 0 { out.append("queue: a count is negative") }
            return out
        }
    }

    public var snapshot: Snapshot {
        var s = Snapshot(names: names.names, queueIDs: [], hosts: [], mtas: [], arrivals: [], lastAttempts: [], atRiskCounted: [],
                         recipientMessages: [], recipientKeys: [], recipientNames: [], causes: [], recipientAttempts: [],
                         dropped: dropped, forgotten: forgotten, now: now)
        for m in index.values.sorted() {
            let msg = messages[Int(m)]
            let at = Int32(truncatingIfNeeded: s.queueIDs.count)
            s.queueIDs.append(msg.queueID)
            s.hosts.append(msg.host)
            s.mtas.append(msg.mta)
            s.arrivals.append(msg.arrival)
            s.lastAttempts.append(lastAttempt(of: Int(m)))
            s.atRiskCounted.append(msg.atRiskCounted)
            var chain: [Recipient] = []
            var i = msg.head
            while i >= 0 {
                chain.append(recipients[Int(i)])
                i = recipients[Int(i)].next
            }
            // Oldest first, so a restore rebuilds the same order.
            for r in chain.reversed() {
                s.recipientMessages.append(at)
                s.recipientKeys.append(Int(r.key))
                s.recipientNames += [r.domain, r.relay, r.provider]
                s.causes.append(r.cause)
                s.recipientAttempts.append(r.lastAttempt)
            }
        }
        return s
    }

    /// Takes back a saved queue (checked with `Snapshot.problems` first); what the book
    /// holds already is kept, a saved message it has too is not taken twice.
    public mutating func restore(_ s: Snapshot) {
        guard s.problems.isEmpty else { return }
        changes &+= 1
        var fresh: [Int32: Int] = [:]
        for j in s.queueIDs.indices {
            let host = names.id(s.names[Int(s.hosts[j])])
            let key = SenderBook.key(host: s.names[Int(s.hosts[j])].utf8, queueID: s.queueIDs[j].utf8)
            guard index.find(key, in: messages) == nil, index.count < config.maxMessages else { continue }
            let m = messages.count
            messages.append(Message(key: key, queueID: s.queueIDs[j], arrival: s.arrivals[j],
                                    head: -1, host: host, mta: s.mtas[j], atRiskCounted: s.atRiskCounted[j]))
            index.insert(Int32(m), in: messages)
            fresh[Int32(j)] = m
        }
        for k in s.recipientMessages.indices {
            guard let m = fresh[s.recipientMessages[k]] else { continue }
            let n = Int32(truncatingIfNeeded: recipients.count)
            recipients.append(Recipient(lastAttempt: s.recipientAttempts[k], key: Self.fold(UInt64(truncatingIfNeeded: s.recipientKeys[k])),
                                        domain: names.id(s.names[Int(s.recipientNames[3 * k])]),
                                        relay: names.id(s.names[Int(s.recipientNames[3 * k + 1])]),
                                        provider: names.id(s.names[Int(s.recipientNames[3 * k + 2])]),
                                        next: messages[m].head, cause: s.causes[k]))
            messages[m].head = n
        }
        // A saved message without recipients is no deferred message.
        let empty = fresh.values.filter { messages[$0].head < 0 }.map { messages[$0].key }
        for key in empty { if let m = index.find(key, in: messages) { removeMessage(key, Int(m)) } }
        dropped = max(dropped, s.dropped)
        forgotten = max(forgotten, s.forgotten)
        if s.now > now { now = s.now }
    }
}

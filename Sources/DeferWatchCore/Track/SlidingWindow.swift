/// Counts of one destination over a sliding window of log time, in fixed buckets: attempts,
/// and per cause the deferrals, the distinct messages deferred and the first deferral's time.
/// Memory is constant per key; cause counters exist only for causes the key has seen.
/// Lines a little out of order land in their own bucket; lines older than the window are
/// not counted in it.
///
/// Storage: the buckets' labels and attempts are one heap block (`Cells`), and so are each
/// cause's three counters: the tracker makes a window for every destination it meets, and
/// two arrays per window (each a separate allocation, each allocation a look-up of the
/// array type's metadata) were most of the cost of a new destination. Copies share the
/// blocks until one of them is changed (copy on write, as the arrays did).
struct SlidingWindow {
    private var cells: Cells
    private var causes: [CauseSlot] = []
    /// The slot used last.
    private var last = 0
    /// The provider of the destination's deferrals (a domain or relay key's provider).
    var provider: String?

    /// One heap block of counters per bucket: `n` Int64 (a window's labels, or a cause's first
    /// deferral times), then `counters` runs of `n` UInt32 (attempts; or deferrals and new
    /// messages).
    final class Block {
        let n: Int
        let counters: Int
        let base: UnsafeMutableRawPointer

        private var byteCount: Int { n * (8 + 4 * counters) }

        init(buckets n: Int, counters: Int, fill: Int64) {
            self.n = n
            self.counters = counters
            base = UnsafeMutableRawPointer.allocate(byteCount: n * (8 + 4 * counters), alignment: 8)
            base.bindMemory(to: Int64.self, capacity: n).initialize(repeating: fill, count: n)
            (base + n * 8).bindMemory(to: UInt32.self, capacity: counters * n).initialize(repeating: 0, count: counters * n)
        }

        init(copying o: Block) {
            n = o.n
            counters = o.counters
            base = UnsafeMutableRawPointer.allocate(byteCount: o.byteCount, alignment: 8)
            base.copyMemory(from: o.base, byteCount: o.byteCount)
            base.bindMemory(to: Int64.self, capacity: n)
            (base + n * 8).bindMemory(to: UInt32.self, capacity: counters * n)
        }

        deinit { base.deallocate() }

        @inline(__always) var int64s: UnsafeMutablePointer<Int64> { base.assumingMemoryBound(to: Int64.self) }
        @inline(__always) func uint32s(_ k: Int) -> UnsafeMutablePointer<UInt32> {
            (base + n * 8 + k * n * 4).assumingMemoryBound(to: UInt32.self)
        }
    }

    /// A window's labels (absolute bucket numbers) and attempts.
    struct Cells {
        var block: Block
        init(buckets n: Int) { block = Block(buckets: n, counters: 1, fill: Int64.min) }
        init(copying o: Cells) { block = Block(copying: o.block) }
        var n: Int { block.n }
        @inline(__always) var labels: UnsafeMutablePointer<Int64> { block.int64s }
        @inline(__always) var attempts: UnsafeMutablePointer<UInt32> { block.uint32s(0) }
    }

    /// One cause's counters per bucket: the first deferral's time, deferrals, new messages.
    struct CauseCells {
        var block: Block
        init(buckets n: Int) { block = Block(buckets: n, counters: 2, fill: Int64.max) }
        init(copying o: CauseCells) { block = Block(copying: o.block) }
        @inline(__always) var first: UnsafeMutablePointer<Int64> { block.int64s }
        @inline(__always) var deferrals: UnsafeMutablePointer<UInt32> { block.uint32s(0) }
        @inline(__always) var messages: UnsafeMutablePointer<UInt32> { block.uint32s(1) }

        func clear(_ i: Int) {
            deferrals[i] = 0
            messages[i] = 0
            first[i] = Int64.max
        }
    }

    struct CauseSlot {
        var cause: Cause
        var cells: CauseCells
        /// The last reply text of the cause (not an inherited one), for an alert's sample.
        var sample: String = ""
        /// Recent distinct recipients (hashes), bounded, to seed an alert's count.
        var recipients: [Int] = []
        /// Recent distinct sender domains, at most Alert.senderCap, the newest last.
        var senders: [String] = []
    }

    static let recipientMemory = 64

    struct Totals {
        var attempts = 0
        var deferrals = 0
        var messages = 0
        var firstDeferral: Int64?
        var share: Double { attempts == 0 ? 0 : Double(deferrals) / Double(attempts) }
    }

    init(buckets: Int) {
        cells = Cells(buckets: buckets)
    }

    private var n: Int { cells.n }

    /// The block of counters to change: this window's own (copied first when another
    /// window shares it).
    @inline(__always)
    private mutating func ownCells() -> Cells {
        if !isKnownUniquelyReferenced(&cells.block) { cells = Cells(copying: cells) }
        return cells
    }

    @inline(__always)
    private mutating func ownCauseCells(_ k: Int) -> CauseCells {
        if !isKnownUniquelyReferenced(&causes[k].cells.block) { causes[k].cells = CauseCells(copying: causes[k].cells) }
        return causes[k].cells
    }

    /// The index of the cause's slot, if the window has one.
    @inline(__always)
    private func index(of cause: Cause) -> Int? {
        var k = 0
        while k < causes.count {
            if causes[k].cause == cause { return k }
            k += 1
        }
        return nil
    }

    /// The slot of absolute bucket `b`, cleared when it held an older bucket; nil when `b`
    /// is older than the slot's content (outside the window).
    private mutating func slot(_ b: Int64) -> Int? {
        let c = ownCells()
        let labels = c.labels
        // Most attempts land in the bucket of the one before: no division.
        if labels[last] == b { return last }
        let i = Int(b % Int64(n) + Int64(n)) % n
        last = i
        if labels[i] == b { return i }
        if labels[i] > b { return nil }
        labels[i] = b
        c.attempts[i] = 0
        for k in causes.indices { ownCauseCells(k).clear(i) }
        return i
    }

    mutating func addAttempt(bucket b: Int64) {
        guard let i = slot(b) else { return }
        cells.attempts[i] &+= 1
    }

    mutating func addDeferral(bucket b: Int64, time: Int64, cause: Cause, newMessage: Bool, counts: Bool,
                              recipient: Int? = nil, sample: String? = nil, sender: String? = nil) {
        guard let i = slot(b) else { return }
        cells.attempts[i] &+= 1
        guard counts else { return }
        let k: Int
        if let found = index(of: cause) {
            k = found
        } else {
            causes.append(CauseSlot(cause: cause, cells: CauseCells(buckets: n)))
            k = causes.count - 1
        }
        let c = ownCauseCells(k)
        c.deferrals[i] &+= 1
        if newMessage { c.messages[i] &+= 1 }
        if time < c.first[i] { c.first[i] = time }
        if let sample { causes[k].sample = sample }
        if let recipient, !causes[k].recipients.contains(recipient) {
            if causes[k].recipients.count >= Self.recipientMemory { causes[k].recipients.removeFirst() }
            causes[k].recipients.append(recipient)
        }
        if let sender, causes[k].senders.last != sender {
            causes[k].senders.removeAll { $0 == sender }
            if causes[k].senders.count >= Alert.senderCap { causes[k].senders.removeFirst() }
            causes[k].senders.append(sender)
        }
    }

    /// The sender domains of the cause's recent deferrals, the newest last.
    func senders(_ cause: Cause) -> [String] {
        index(of: cause).map { causes[$0].senders } ?? []
    }

    func sample(_ cause: Cause) -> String? {
        index(of: cause).map { causes[$0].sample }.flatMap { $0.isEmpty ? nil : $0 }
    }

    func recipients(_ cause: Cause) -> Set<Int> {
        Set(index(of: cause).map { causes[$0].recipients } ?? [])
    }

    /// Sums over the window that ends with bucket `now`. `attempts` counts from the bucket of
    /// the cause's first deferral in the window on, so the share speaks of the episode, not
    /// of the quiet minutes before it.
    func totals(cause: Cause, now: Int64) -> Totals {
        var t = Totals()
        let lo = now - Int64(n) + 1
        let labels = cells.labels, attempts = cells.attempts
        guard let k = index(of: cause) else {
            for i in 0..<n where labels[i] >= lo && labels[i] <= now { t.attempts += Int(attempts[i]) }
            return t
        }
        let c = causes[k].cells
        var firstBucket = Int64.max
        for i in 0..<n where labels[i] >= lo && labels[i] <= now {
            let d = c.deferrals[i]
            if d > 0 {
                t.deferrals += Int(d)
                t.messages += Int(c.messages[i])
                firstBucket = min(firstBucket, labels[i])
                let f = c.first[i]
                if f != Int64.max && (t.firstDeferral == nil || f < t.firstDeferral!) { t.firstDeferral = f }
            }
        }
        let from = firstBucket == Int64.max ? lo : firstBucket
        for i in 0..<n where labels[i] >= from && labels[i] <= now { t.attempts += Int(attempts[i]) }
        return t
    }

    /// Whether any cause has a deferral in memory at all (cheap: most keys never deferred).
    var hasCauses: Bool { !causes.isEmpty }

    /// Attempts in the whole window ending with bucket `now`, and each cause's totals in it.
    func summary(now: Int64) -> (attempts: Int, causes: [(cause: Cause, totals: Totals, sample: String, senders: [String])]) {
        let lo = now - Int64(n) + 1
        let labels = cells.labels
        var attempts = 0
        for i in 0..<n where labels[i] >= lo && labels[i] <= now { attempts += Int(cells.attempts[i]) }
        var out: [(cause: Cause, totals: Totals, sample: String, senders: [String])] = []
        for c in causes {
            let t = totals(cause: c.cause, now: now)
            if t.deferrals > 0 { out.append((c.cause, t, c.sample, c.senders)) }
        }
        return (attempts, out)
    }

    /// Whether anything at all was counted in the window ending at `now`.
    func isIdle(now: Int64) -> Bool {
        let lo = now - Int64(n) + 1
        let labels = cells.labels
        for i in 0..<n where labels[i] >= lo && labels[i] <= now { return false }
        return true
    }
}

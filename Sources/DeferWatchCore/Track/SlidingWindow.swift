/// Counts of one destination over a sliding window of log time, in fixed buckets: attempts,
/// and per cause the deferrals, the distinct messages deferred and the first deferral's time.
/// Memory is constant per key; cause counters exist only for causes the key has seen.
/// Lines a little out of order land in their own bucket; lines older than the window are
/// not counted in it.
struct SlidingWindow {
    private var labels: [Int64]
    private var attempts: [UInt32]
    private var causes: [CauseSlot] = []
    /// The slot used last.
    private var last = 0
    /// The provider of the destination's deferrals (a domain or relay key's provider).
    var provider: String?

    struct CauseSlot {
        var cause: Cause
        var deferrals: [UInt32]
        var messages: [UInt32]
        var first: [Int64]
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
        labels = [Int64](repeating: Int64.min, count: buckets)
        attempts = [UInt32](repeating: 0, count: buckets)
    }

    private var n: Int { labels.count }

    /// The slot of absolute bucket `b`, cleared when it held an older bucket; nil when `b`
    /// is older than the slot's content (outside the window).
    private mutating func slot(_ b: Int64) -> Int? {
        // Most attempts land in the bucket of the one before: no division.
        if labels[last] == b { return last }
        let i = Int(b % Int64(n) + Int64(n)) % n
        last = i
        if labels[i] == b { return i }
        if labels[i] > b { return nil }
        labels[i] = b
        attempts[i] = 0
        for k in causes.indices {
            causes[k].deferrals[i] = 0
            causes[k].messages[i] = 0
            causes[k].first[i] = Int64.max
        }
        return i
    }

    mutating func addAttempt(bucket b: Int64) {
        guard let i = slot(b) else { return }
        attempts[i] &+= 1
    }

    mutating func addDeferral(bucket b: Int64, time: Int64, cause: Cause, newMessage: Bool, counts: Bool,
                              recipient: Int? = nil, sample: String? = nil, sender: String? = nil) {
        guard let i = slot(b) else { return }
        attempts[i] &+= 1
        guard counts else { return }
        var k = causes.firstIndex { $0.cause == cause }
        if k == nil {
            causes.append(CauseSlot(cause: cause, deferrals: [UInt32](repeating: 0, count: n),
                                    messages: [UInt32](repeating: 0, count: n), first: [Int64](repeating: Int64.max, count: n)))
            k = causes.count - 1
        }
        causes[k!].deferrals[i] &+= 1
        if newMessage { causes[k!].messages[i] &+= 1 }
        if time < causes[k!].first[i] { causes[k!].first[i] = time }
        if let sample { causes[k!].sample = sample }
        if let recipient, !causes[k!].recipients.contains(recipient) {
            if causes[k!].recipients.count >= Self.recipientMemory { causes[k!].recipients.removeFirst() }
            causes[k!].recipients.append(recipient)
        }
        if let sender, causes[k!].senders.last != sender {
            causes[k!].senders.removeAll { $0 == sender }
            if causes[k!].senders.count >= Alert.senderCap { causes[k!].senders.removeFirst() }
            causes[k!].senders.append(sender)
        }
    }

    /// The sender domains of the cause's recent deferrals, the newest last.
    func senders(_ cause: Cause) -> [String] {
        causes.first { $0.cause == cause }?.senders ?? []
    }

    func sample(_ cause: Cause) -> String? {
        causes.first { $0.cause == cause }.map(\.sample).flatMap { $0.isEmpty ? nil : $0 }
    }

    func recipients(_ cause: Cause) -> Set<Int> {
        Set(causes.first { $0.cause == cause }?.recipients ?? [])
    }

    /// Sums over the window that ends with bucket `now`. `attempts` counts from the bucket of
    /// the cause's first deferral in the window on, so the share speaks of the episode, not
    /// of the quiet minutes before it.
    func totals(cause: Cause, now: Int64) -> Totals {
        var t = Totals()
        let lo = now - Int64(n) + 1
        guard let k = causes.firstIndex(where: { $0.cause == cause }) else {
            for i in 0..<n where labels[i] >= lo && labels[i] <= now { t.attempts += Int(attempts[i]) }
            return t
        }
        var firstBucket = Int64.max
        for i in 0..<n where labels[i] >= lo && labels[i] <= now {
            let d = causes[k].deferrals[i]
            if d > 0 {
                t.deferrals += Int(d)
                t.messages += Int(causes[k].messages[i])
                firstBucket = min(firstBucket, labels[i])
                let f = causes[k].first[i]
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
        var attempts = 0
        for i in 0..<n where labels[i] >= lo && labels[i] <= now { attempts += Int(self.attempts[i]) }
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
        return !labels.contains { $0 >= lo && $0 <= now }
    }
}

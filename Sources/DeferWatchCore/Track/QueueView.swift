/// The deferred queue at one moment, as `status queue`, `/v1/queue` and `analyze --queue`
/// show it: per destination (domain, relay, provider) and cause, the messages still
/// deferred, their ages in buckets in the spirit of qshape, the oldest, and the time until
/// the oldest expires. Times in seconds (ages, durations) and Unix seconds (instants).
public struct QueueView: Codable, Sendable, Equatable {
    /// The upper edges of the age buckets, in minutes: 0-5, 5-10, 10-20, 20-40, 40-80,
    /// 80-160 minutes, then 160 min-6 h, 6-12 h, 12-24 h, 1-2 days, 2-4 days and beyond.
    public static let bucketEdgesMinutes: [Int64] = [5, 10, 20, 40, 80, 160, 360, 720, 1440, 2880, 5760]
    public static let bucketLabels = ["0-5m", "5-10m", "10-20m", "20-40m", "40-80m", "80-160m",
                                      "160m-6h", "6-12h", "12-24h", "1-2d", "2-4d", "4d+"]

    public struct Row: Codable, Sendable, Equatable {
        public var scope: Scope
        public var name: String
        public var cause: Cause
        public var messages: Int
        public var recipients: Int
        /// Messages within `at_risk_before` of expiring (or past it).
        public var atRisk: Int
        public var oldestAge: Int64
        /// Until the first of its messages expires (negative: overdue).
        public var expiresIn: Int64
        public var ages: [Int]
    }

    /// One message (with `ids`): for `--destination` and the reconciliation with the MTA's
    /// own queue.
    public struct Message: Codable, Sendable, Equatable {
        public var host: String
        public var queueId: String
        public var mta: MTA
        public var arrival: Int64
        public var recipients: Int
        public var domains: [String]
        public var relays: [String]
        public var providers: [String]
        public var causes: [Cause]

        func names(_ name: String) -> Bool {
            let n = name.lowercased()
            return domains.contains(n) || relays.contains { $0.lowercased() == n } || providers.contains { $0.lowercased() == n }
        }
    }

    /// How the view compares with the MTA's own queue (`status queue`, filled in by the
    /// client that asked the MTA).
    public struct Reconciliation: Codable, Sendable, Equatable {
        /// The command asked (`postqueue -j`, `exim -bp`).
        public var command: String
        public var mta: MTA
        /// Messages waiting in the MTA's queue, and those deferwatch has of this host and MTA.
        public var queued: Int
        public var seen: Int
        /// Queue ids deferwatch has and the queue does not (a removal the logs did not show),
        /// and the other way round (logs lost or rotated away, or not tried yet).
        public var onlyInLogs: [String]
        public var onlyInQueue: [String]
        /// Why no comparison was made, when none was.
        public var note: String?

        public init(command: String, mta: MTA, queued: Int, seen: Int, onlyInLogs: [String], onlyInQueue: [String], note: String? = nil) {
            self.command = command
            self.mta = mta
            self.queued = queued
            self.seen = seen
            self.onlyInLogs = onlyInLogs
            self.onlyInQueue = onlyInQueue
            self.note = note
        }
    }

    /// When the view was taken (log time, or the wall clock when later).
    public var time: Int64
    public var messages: Int
    public var recipients: Int
    public var atRisk: Int
    public var oldestAge: Int64?
    public var expiresIn: Int64?
    public var ages: [Int]
    /// Per scope, the groups before `limit` cut them.
    public var domainsTotal: Int
    public var relaysTotal: Int
    public var providersTotal: Int
    public var rows: [Row]
    /// Messages not followed (`max_messages` reached) and forgotten (no attempt for a day).
    public var dropped: Int
    public var forgotten: Int
    public var postfixLifetime: Int64
    public var eximLifetime: Int64
    public var atRiskBefore: Int64
    /// With `ids`: the messages (up to `idLimit`), oldest first.
    public var list: [Message]?
    public var listTruncated: Bool?
    public var reconciliation: [Reconciliation]?

    public static func bucket(ageSeconds a: Int64) -> Int {
        let minutes = a / 60
        var i = 0
        while i < bucketEdgesMinutes.count, minutes >= bucketEdgesMinutes[i] { i += 1 }
        return i
    }
}

extension QueueView {
    /// The view of one destination (a domain, relay or provider, any case), made from this
    /// view's rows and message list: the totals are those of its messages in the list
    /// (`listTruncated` says when the list was cut), the rows only its own.
    public func only(_ destination: String) -> QueueView {
        let name = destination.lowercased()
        var v = self
        v.rows = rows.filter { $0.name.lowercased() == name }
        let mine = (list ?? []).filter { $0.names(name) }
        v.list = mine
        v.messages = mine.count
        v.recipients = mine.reduce(0) { $0 + $1.recipients }
        v.ages = [Int](repeating: 0, count: Self.bucketLabels.count)
        v.atRisk = 0
        v.oldestAge = nil
        v.expiresIn = nil
        for m in mine {
            let age = max(0, time &- m.arrival)
            let left = m.arrival &+ (m.mta == .exim ? eximLifetime : postfixLifetime) &- time
            v.ages[Self.bucket(ageSeconds: age)] += 1
            if left <= atRiskBefore { v.atRisk += 1 }
            v.oldestAge = max(v.oldestAge ?? 0, age)
            v.expiresIn = min(v.expiresIn ?? Int64.max, left)
        }
        v.domainsTotal = Set(v.rows.filter { $0.scope == .domain }.map(\.name)).count
        v.relaysTotal = Set(v.rows.filter { $0.scope == .relay }.map(\.name)).count
        v.providersTotal = Set(v.rows.filter { $0.scope == .provider }.map(\.name)).count
        return v
    }
}

extension QueueBook {
    /// What to put in a view.
    public struct ViewOptions: Sendable {
        /// Rows per scope, the most messages first.
        public var limit = 50
        /// Only this destination (a domain, relay or provider name, any case).
        public var destination: String?
        /// The messages themselves, up to `idLimit`.
        public var ids = false
        public var idLimit = 20_000
        public init(limit: Int = 50, destination: String? = nil, ids: Bool = false) {
            self.limit = limit
            self.destination = destination
            self.ids = ids
        }
    }

    /// The queue at log time `at` (nil: the newest event's time; never before it).
    public func view(at: Int64? = nil, _ o: ViewOptions = ViewOptions()) -> QueueView {
        let t = max(at ?? now, now)
        let s = TrackerConfig.second
        struct Group { var messages = 0; var recipients = 0; var atRisk = 0; var oldest = Int64.max; var expiry = Int64.max; var ages = [Int](repeating: 0, count: QueueView.bucketLabels.count) }
        struct GroupKey: Hashable { var scope: Scope; var name: Int32; var cause: Cause }
        var groups: [GroupKey: Group] = [:]
        var total = Group()
        // The messages listed: only their arrival and slot while the book is walked, and
        // only the `idLimit` oldest of those seen so far once twice as many are held (16
        // MB of a million messages would otherwise be allocated at each view); the listing
        // itself is made for the `idLimit` oldest only. The sort is stable, so the oldest
        // kept are those a sort of all of them would list.
        var listed: [(arrival: Int64, slot: Int32)] = []
        let keep = max(0, o.idLimit)
        var listedTotal = 0
        let older = { (a: (arrival: Int64, slot: Int32), b: (arrival: Int64, slot: Int32)) in
            (a.arrival, messages[Int(a.slot)].queueID) < (b.arrival, messages[Int(b.slot)].queueID)
        }
        let wanted: Int32? = o.destination.map { d in names.find(d) ?? -1 }
        var seen: [GroupKey] = []
        for m in index.values {
            let msg = messages[Int(m)]
            seen.removeAll(keepingCapacity: true)
            var count = 0
            var i = msg.head
            var matches = wanted == nil
            while i >= 0 {
                let r = recipients[Int(i)]
                count += 1
                if let w = wanted, w == r.domain || w == r.relay || w == r.provider { matches = true }
                for (scope, name) in [(Scope.domain, r.domain), (.relay, r.relay), (.provider, r.provider)] where name != 0 {
                    let k = GroupKey(scope: scope, name: name, cause: r.cause)
                    groups[k, default: Group()].recipients += 1
                    if !seen.contains(k) { seen.append(k) }
                }
                i = r.next
            }
            guard matches else { continue }
            let age = max(0, (t &- msg.arrival) / s)
            let expiry = msg.arrival &+ config.lifetime(msg.mta)
            let atRisk = expiry &- t <= config.atRiskBefore
            let b = QueueView.bucket(ageSeconds: age)
            func add(_ g: inout Group) {
                g.messages += 1
                if atRisk { g.atRisk += 1 }
                g.oldest = min(g.oldest, msg.arrival)
                g.expiry = min(g.expiry, expiry)
                g.ages[b] += 1
            }
            add(&total)
            total.recipients += count
            for k in seen { add(&groups[k]!) }
            if o.ids {
                listedTotal += 1
                listed.append((msg.arrival, m))
                if listed.count >= max(2 * keep, 64) {
                    listed.sort(by: older)
                    listed.removeLast(listed.count - keep)
                }
            }
        }
        var rows: [QueueView.Row] = []
        var totals: [Scope: Int] = [:]
        for scope in [Scope.domain, .relay, .provider] {
            var these = groups.filter { $0.key.scope == scope && (wanted == nil || $0.key.name == wanted) }
                .map { (k, g) in
                    QueueView.Row(scope: scope, name: names[k.name], cause: k.cause, messages: g.messages, recipients: g.recipients,
                                  atRisk: g.atRisk, oldestAge: max(0, (t &- g.oldest) / s), expiresIn: (g.expiry &- t) / s, ages: g.ages)
                }
            totals[scope] = Set(these.map(\.name)).count
            these.sort { ($0.messages, $1.name, $1.cause) > ($1.messages, $0.name, $0.cause) }
            rows += these.prefix(max(0, o.limit))
        }
        var v = QueueView(time: t / s, messages: total.messages, recipients: total.recipients, atRisk: total.atRisk,
                          oldestAge: total.messages > 0 ? max(0, (t &- total.oldest) / s) : nil,
                          expiresIn: total.messages > 0 ? (total.expiry &- t) / s : nil, ages: total.ages,
                          domainsTotal: totals[.domain] ?? 0, relaysTotal: totals[.relay] ?? 0, providersTotal: totals[.provider] ?? 0,
                          rows: rows, dropped: dropped, forgotten: forgotten,
                          postfixLifetime: config.postfixLifetime / s, eximLifetime: config.eximLifetime / s,
                          atRiskBefore: config.atRiskBefore / s)
        if o.ids {
            listed.sort(by: older)
            v.list = listed.prefix(keep).map { listing(slot: Int($0.slot)) }
            v.listTruncated = listedTotal > o.idLimit
        }
        return v
    }

    /// One message as the listing shows it: its destinations and causes, each once, in the
    /// order of its recipients.
    private func listing(slot: Int) -> QueueView.Message {
        let msg = messages[slot]
        var domains: [String] = [], relays: [String] = [], providers: [String] = [], causes: [Cause] = []
        var count = 0
        var i = msg.head
        while i >= 0 {
            let r = recipients[Int(i)]
            count += 1
            if !domains.contains(names[r.domain]) { domains.append(names[r.domain]) }
            if r.relay != 0, !relays.contains(names[r.relay]) { relays.append(names[r.relay]) }
            if r.provider != 0, !providers.contains(names[r.provider]) { providers.append(names[r.provider]) }
            if !causes.contains(r.cause) { causes.append(r.cause) }
            i = r.next
        }
        return QueueView.Message(host: names[msg.host], queueId: msg.queueID, mta: msg.mta, arrival: msg.arrival / TrackerConfig.second,
                                 recipients: count, domains: domains, relays: relays, providers: providers, causes: causes)
    }
}

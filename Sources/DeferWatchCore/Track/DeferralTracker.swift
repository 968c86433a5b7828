/// Turns classified delivery events into alert transitions. Pure: time comes from the events
/// (and from `advance(to:)`, which the daemon calls when the log is quiet); mutating methods
/// return what should be written and never write it themselves.
///
/// Every attempt is counted under its recipient domain, its relay host and its provider
/// (and, once more than one sending host is seen, under each of those per host), in sliding
/// windows of log time. A deferral that makes a destination cross its cause's thresholds
/// opens an alert on the narrowest key that explains the pattern:
/// - the provider, when the provider's other domains defer for the cause too (a provider-wide
///   alert absorbs the open alerts of that provider's domains);
/// - a relay host, when it serves several deferring domains of no known provider;
/// - else the recipient domain;
/// and on one sending host when only that host is deferred (its IP is the one throttled).
public struct DeferralTracker {
    public private(set) var config: TrackerConfig
    public private(set) var hints: HintBook

    var windows: BoundedMap<DestinationKey, SlidingWindow>
    private var messages: BoundedMap<Int, MessageMemory>
    var hosts: [String] = []
    /// The last event's sending host and its hash (most logs come from one host).
    private var lastHost: String?
    private var lastHostHash = 0
    var open: [Int: Alert] = [:]
    var byKeyCause: [AlertKey: Int] = [:]
    var byKey: [DestinationKey: [Int]] = [:]
    /// Open alerts by what a wider alert would take over (DeferralTracker+Storm.swift).
    var related: [Relation: Set<Int>] = [:]
    /// The wider alert (scope `all`) of each cause in a storm, and the destinations folded
    /// into it.
    var wide: [Cause: Int] = [:]
    var folded: [Cause: Set<Int>] = [:]
    /// Destinations that crossed their thresholds while `maxOpenAlerts` were open, and went
    /// into their cause's wider alert instead of an alert of their own.
    public internal(set) var alertsFolded = 0
    /// Open alerts of a saved state not taken back, being over `maxOpenAlerts`.
    public private(set) var restoredOverCap = 0
    /// Under key pressure (windows dropped before they fill): per cause, the destinations
    /// seen deferring recently (hash -> last time), bounded; and when windows were last dropped.
    var stormSeen: [Cause: [Int: Int64]] = [:]
    var lastEvictions = 0
    var lastEvictionAt = Int64.min
    /// Every attempt and deferral of the host, one window for all (the storm's share).
    var everything: SlidingWindow
    private var history: BoundedMap<AlertKey, [Int64]>
    private var nextID = 1
    public private(set) var now: Int64 = Int64.min
    /// The newest event time the clock took: what status calls the log time. `now` may be
    /// past it, moved on by `advance(to:)` while the log is quiet.
    public private(set) var newestEvent: Int64 = Int64.min
    private var nextTick: Int64 = Int64.min
    /// When each open alert next needs the periodic check (DueQueue.swift).
    var due = DueQueue()
    /// Open alerts the periodic checks looked at, all told (the tests' measure of its cost).
    public private(set) var alertsExamined = 0
    /// Tests only: look at every open alert at each check, as before the due queue, to
    /// show that looking only at the due ones changes nothing.
    public var examineEveryAlert = false
    /// The latest log time the caller allows (`run`: the wall clock plus `clockLeap`); nil
    /// in `analyze`, where only the lines say what time it is.
    public var ceiling: Int64?
    /// Events the clock did not take: dated past `ceiling`, or a jump ahead no second line
    /// confirmed. They are not tracked (the report and the counters still have them).
    public private(set) var futureOutliers = 0
    /// A line far ahead of `now`, waiting for a second one to confirm the jump.
    private var leapCandidate: Int64?

    struct AlertKey: Hashable {
        var key: DestinationKey
        var cause: Cause
    }

    struct MessageMemory {
        /// The message's last deferral that counted towards an alert.
        var lastCounted: Int64
        var greylisted: Int
    }

    public init(config: TrackerConfig = TrackerConfig(), hints: HintBook) {
        self.config = config
        self.hints = hints
        windows = BoundedMap(capacity: max(16, config.maxKeys))
        messages = BoundedMap(capacity: max(16, config.maxMessages))
        history = BoundedMap(capacity: 65_536)
        everything = SlidingWindow(buckets: config.bucketCount)
    }

    /// Takes a reloaded configuration: open alerts carry on under the new thresholds; the
    /// windows are kept unless their shape (window or bucket length) changed.
    public mutating func reconfigure(config new: TrackerConfig, hints: HintBook) {
        if new.window != config.window || new.bucket != config.bucket || new.maxKeys != config.maxKeys {
            windows = BoundedMap(capacity: max(16, new.maxKeys))
            everything = SlidingWindow(buckets: new.bucketCount)
        }
        if new.maxMessages != config.maxMessages { messages = BoundedMap(capacity: max(16, new.maxMessages)) }
        config = new
        self.hints = hints
        // The thresholds that say when an alert is due may have changed.
        due.removeAll()
        for a in open.values { due.push(dueTime(a), a.id) }
    }

    /// What must survive a restart: the open alerts and the next alert number.
    public struct Snapshot: Codable, Sendable, Equatable {
        public var alerts: [Alert]
        public var nextID: Int
        public var now: Int64
        /// The newest event time taken (absent in checkpoints of earlier versions: `now`).
        public var newestEvent: Int64?

        public init(alerts: [Alert], nextID: Int, now: Int64, newestEvent: Int64? = nil) {
            self.alerts = alerts
            self.nextID = nextID
            self.now = now
            self.newestEvent = newestEvent
        }
    }

    public var snapshot: Snapshot { Snapshot(alerts: openAlerts, nextID: nextID, now: now, newestEvent: newestEvent) }

    /// Takes back the open alerts of an earlier run, so a restart neither forgets an open
    /// alert nor raises it again (the windows start empty and fill again).
    public mutating func restore(_ s: Snapshot) {
        // A state saved with more open alerts than `maxOpenAlerts` allows now (an earlier
        // version, or a lower cap): the most recently active are kept.
        var alerts = s.alerts
        if alerts.count > config.maxOpenAlerts {
            let keep = Set(alerts.sorted { ($0.lastSeen, $0.id) > ($1.lastSeen, $1.id) }.prefix(config.maxOpenAlerts).map(\.id))
            restoredOverCap += alerts.count - keep.count
            alerts = alerts.filter { keep.contains($0.id) }
        }
        for a in alerts {
            open[a.id] = a
            byKeyCause[AlertKey(key: a.key, cause: a.cause)] = a.id
            byKey[a.key, default: []].append(a.id)
            register(a)
            let ak = AlertKey(key: a.key, cause: a.cause)
            history[ak] = (history[ak] ?? []) + [a.openedAt]
            // The hosts the restored alerts spoke for are the hosts seen so far.
            if let h = a.sendingHost, a.key.host == nil { noteHost(h) }
        }
        nextID = max(nextID, s.nextID)
        // A saved "now" past the ceiling (a future-dated line the earlier run believed) is
        // not taken back: it would keep the clock wrong across restarts.
        if s.now > now && (ceiling.map { s.now <= $0 } ?? true) { now = s.now }
        let newest = min(s.newestEvent ?? s.now, s.now)
        if newest > newestEvent && newest <= now { newestEvent = newest }
    }

    /// The alerts open now, oldest first.
    public var openAlerts: [Alert] { open.values.sorted { $0.id < $1.id } }

    /// How many alerts are open (without sorting them).
    public var openAlertCount: Int { open.count }

    /// Destination keys currently holding a window (bounded by `config.maxKeys`).
    public var trackedKeys: Int { windows.count }

    /// The sending host an alert speaks for: its own, or the only host seen.
    public func displayHost(_ a: Alert) -> String? { a.key.host ?? (hosts.count == 1 ? hosts[0] : nil) }

    // MARK: - Events

    public mutating func record(_ e: DeliveryEvent, hashes: DestinationHashes? = nil) -> [AlertTransition] {
        guard let t = e.time, admit(t) else { return [] }
        if t > newestEvent { newestEvent = t }
        var out = advance(to: t)
        let b = t / config.bucket
        noteHost(e.host)
        let keys = keys(of: e, hashes: hashes)
        switch e.status {
        case .sent:
            everything.addAttempt(bucket: b)
            for i in 0..<keys.windowed { if let k = keys[i] { windows.withValue(k, default: SlidingWindow(buckets: config.bucketCount)) { $0.addAttempt(bucket: b) } } }
            if !open.isEmpty {
                for i in 0..<6 {
                    guard let k = keys[i] else { continue }
                    for id in byKey[k] ?? [] {
                        updateOpen(id) { a in
                            a.attempts += 1
                            a.lastSuccess = max(a.lastSuccess ?? Int64.min, t)
                        }
                    }
                }
                // A storm's wider alert speaks of every destination: any delivery is one.
                for id in wide.values {
                    updateOpen(id) { a in
                        a.attempts += 1
                        a.lastSuccess = max(a.lastSuccess ?? Int64.min, t)
                    }
                }
            }
        case .bounced:
            everything.addAttempt(bucket: b)
            for i in 0..<keys.windowed { if let k = keys[i] { windows.withValue(k, default: SlidingWindow(buckets: config.bucketCount)) { $0.addAttempt(bucket: b) } } }
        case .expired:
            // A message that expired in this host's own queue trouble says nothing of a destination.
            if !open.isEmpty && e.cause?.isLocal != true {
                for id in Set((0..<6).flatMap { keys[$0].flatMap { byKey[$0] } ?? [] }).sorted() {
                    open[id]!.expired += 1
                    if open[id]!.severity < .critical {
                        open[id]!.severity = .critical
                        open[id]!.escalations += 1
                        out.append(transition(open[id]!, .escalate, at: t))
                    }
                }
            }
        case .deferred:
            // The sending MTA's own decision (queued by configuration, a local filter down):
            // no destination is deferring, so no destination window counts it.
            if e.cause?.isLocal == true { break }
            out += deferral(e, at: t, bucket: b, keys: keys)
        }
        return out
    }

    private mutating func deferral(_ e: DeliveryEvent, at t: Int64, bucket b: Int64, keys: EventKeys) -> [AlertTransition] {
        let cause = e.cause ?? .other
        var h = Hasher()
        h.combine(e.host)
        h.combine(e.queueID)
        h.combine(e.domain)
        let mh = h.finalize()
        var memory = messages[mh] ?? MessageMemory(lastCounted: Int64.min, greylisted: 0)
        if cause == .greylisting { memory.greylisted += 1 }
        // Greylisting that clears on retry is normal: only repeats count.
        let counts = cause != .greylisting || memory.greylisted >= config.greylistingRepeats
        // A message counts once per window, however often it is retried.
        let newMessage = counts && (memory.lastCounted == Int64.min || t - memory.lastCounted > config.window)
        if counts { memory.lastCounted = max(memory.lastCounted, t) }
        messages[mh] = memory

        everything.addDeferral(bucket: b, time: t, cause: cause, newMessage: newMessage, counts: counts)
        let recipient = e.recipient.map(Alert.recipientHash)
        let sample = e.inherited ? nil : e.text
        for i in 0..<keys.windowed {
            guard let k = keys[i] else { continue }
            windows.withValue(k, default: SlidingWindow(buckets: config.bucketCount)) { w in
                w.addDeferral(bucket: b, time: t, cause: cause, newMessage: newMessage, counts: counts,
                              recipient: recipient, sample: sample)
                if let p = e.provider, w.provider != p { w.provider = p }
            }
        }
        // A storm's wider alert of this cause takes every deferral of it.
        if let id = wide[cause] {
            if counts, let k = keys.domain ?? keys.relay { fold(k, into: id, at: t) }
            return []
        }
        if counts, windows.evictions > 0, let out = stormUnderPressure(e, key: keys.domain ?? keys.relay, cause: cause, at: t) {
            return out
        }
        if let id = covering(keys, cause: cause) {
            updateOpen(id) { a in
                a.deferrals += 1
                a.attempts += 1
                a.lastSeen = max(a.lastSeen, t)
                if let r = recipient, a.recipientHashes.count < Alert.recipientCap { a.recipientHashes.insert(r) }
                if a.sample.isEmpty && !e.inherited { a.sample = Alert.cappedSample(e.text) }
            }
            return []
        }
        guard counts else { return [] }
        return evaluate(e, keys: keys, cause: cause, at: t)
    }

    /// Changes an open alert in place: through the dictionary's values, as `open[id]!.x`
    /// copied the whole alert (and its recipient set, on an insert) for every field.
    mutating func updateOpen(_ id: Int, _ body: (inout Alert) -> Void) {
        if let i = open.index(forKey: id) { body(&open.values[i]) }
    }

    /// The open alert that already speaks for this deferral, if any: the provider's first,
    /// then the relay's, then the domain's; each for all hosts, then for the event's host.
    private func covering(_ keys: EventKeys, cause: Cause) -> Int? {
        guard !open.isEmpty else { return nil }
        for i in stride(from: 2, through: 0, by: -1) {
            guard let k = keys[i] else { continue }
            if let id = byKeyCause[AlertKey(key: k, cause: cause)] { return id }
            if let h = keys[i + 3], let id = byKeyCause[AlertKey(key: h, cause: cause)] { return id }
        }
        return nil
    }

    private func totals(_ k: DestinationKey, _ c: Cause) -> SlidingWindow.Totals {
        windows.peek(k)?.totals(cause: c, now: now / config.bucket) ?? SlidingWindow.Totals()
    }

    private func passes(_ t: SlidingWindow.Totals, _ th: CauseThresholds) -> Bool {
        t.deferrals >= th.minDeferrals && t.messages >= th.minMessages && t.share >= th.minShare
    }

    /// Whether, outside `inner`, the wider key shows the same pattern (at half the share).
    private func spreads(_ outer: SlidingWindow.Totals, minus inner: SlidingWindow.Totals?, _ th: CauseThresholds) -> Bool {
        let d = outer.deferrals - (inner?.deferrals ?? 0)
        let a = outer.attempts - (inner?.attempts ?? 0)
        return d >= 2 && a > 0 && Double(d) / Double(a) >= th.minShare / 2
    }

    private mutating func evaluate(_ e: DeliveryEvent, keys: EventKeys, cause: Cause, at t: Int64) -> [AlertTransition] {
        let th = config.thresholds(cause)
        guard th.enabled else { return [] }
        let domainKey = keys.domain
        let relayKey = keys.relay
        let providerKey = keys.provider
        let domainTotals = domainKey.map { totals($0, cause) }

        var chosen: DestinationKey?
        if let pk = providerKey {
            let pt = totals(pk, cause)
            if passes(pt, th) && (domainTotals == nil || spreads(pt, minus: domainTotals, th)) { chosen = pk }
        }
        if chosen == nil, let dk = domainKey, let dt = domainTotals, passes(dt, th) {
            chosen = dk
            if providerKey == nil, let rk = relayKey, spreads(totals(rk, cause), minus: dt, th) { chosen = rk }
        }
        // A relay of no known provider that defers for several domains, none of which crosses
        // on its own (a hosting provider's MX).
        if chosen == nil, providerKey == nil, let rk = relayKey {
            let rt = totals(rk, cause)
            if passes(rt, th) && (domainTotals == nil || spreads(rt, minus: domainTotals, th)) { chosen = rk }
        }
        guard var key = chosen else { return [] }

        // One sending host, or the fleet?
        if hosts.count > 1 {
            let all = totals(key, cause)
            let mine = totals(keys.onHost(key), cause)
            let others = SlidingWindow.Totals(attempts: all.attempts - mine.attempts, deferrals: all.deferrals - mine.deferrals)
            if passes(mine, th) && (others.attempts == 0 || others.share < th.minShare / 2) {
                key = keys.onHost(key)
            }
        }
        return openAlert(key, e, cause: cause, at: t, totals: totals(key, cause))
    }

    mutating func openAlert(_ key: DestinationKey, _ e: DeliveryEvent, cause: Cause, at t: Int64, totals tot: SlidingWindow.Totals) -> [AlertTransition] {
        if key.scope != .all {
            // A storm: past the cap, or once the cause's wider alert is open, a destination
            // is counted in that alert instead of opening one of its own.
            if let id = wide[cause] {
                fold(key, into: id, at: t)
                return []
            }
            if open.count >= config.maxOpenAlerts {
                var out = openAlert(Self.allKey, e, cause: cause, at: t, totals: tot)
                if let id = wide[cause] {
                    for tr in out where tr.absorbedBy == id { fold(tr.alert.key, into: id, at: t) }
                    fold(key, into: id, at: t)
                    out[0].alert = open[id]!
                }
                return out
            }
        }
        let ak = AlertKey(key: key, cause: cause)
        var past = (history[ak] ?? []).filter { t - $0 < config.recurrencePeriod }
        past.append(t)
        history[ak] = past
        var a = Alert(
            id: nextID, key: key, cause: cause, mta: e.mta, provider: key.scope == .all ? nil : e.provider,
            domain: key.scope == .domain ? e.domain : nil,
            relay: key.scope == .provider || key.scope == .all ? nil : e.relay,
            severity: .warning, openedAt: t, firstSeen: tot.firstDeferral ?? t, lastSeen: t, lastSuccess: nil,
            deferrals: max(1, tot.deferrals), attempts: max(1, tot.attempts), expired: 0, recipientHashes: [],
            recurring: past.count, sample: Alert.cappedSample(e.inherited ? (windows.peek(key)?.sample(cause) ?? "") : e.text),
            nextRemind: t + config.remindEvery, escalations: 0, rule: e.rule, confidence: e.confidence)
        a.sendingHost = displayHost(a)
        a.recipientHashes = windows.peek(key)?.recipients(cause) ?? []
        if let r = e.recipient { a.recipientHashes.insert(Alert.recipientHash(r)) }
        nextID += 1
        var out: [AlertTransition] = []
        // The wider alert takes over the narrower open alerts of this cause that it explains.
        for id in candidates(for: key, cause: cause) {
            guard let old = open[id], Self.isNarrower(old, than: key, provider: e.provider) else { continue }
            a.firstSeen = min(a.firstSeen, old.firstSeen)
            a.recipientHashes.formUnion(old.recipientHashes.prefix(max(0, Alert.recipientCap - a.recipientHashes.count)))
            var t2 = transition(old, .resolve, at: t)
            t2.absorbedBy = a.id
            out.append(t2)
            close(old.id)
        }
        open[a.id] = a
        byKeyCause[ak] = a.id
        byKey[key, default: []].append(a.id)
        register(a)
        // The new alert first, then the ones it took over.
        out.insert(transition(a, .open, at: t), at: 0)
        return out
    }

    /// Whether an open alert speaks of a part of what `key` speaks of: a domain or relay of
    /// the provider, a domain behind the relay, or the same destination on one host only.
    static func isNarrower(_ old: Alert, than key: DestinationKey, provider: String?) -> Bool {
        if let h = key.host, old.key.host != h { return false }
        if old.key == key { return false }
        switch key.scope {
        case .provider:
            return old.provider == key.name
        case .relay:
            return (old.key.scope == .relay && old.key.name == key.name) || (old.key.scope == .domain && old.relay == key.name)
        case .domain:
            return old.key.scope == .domain && old.key.name == key.name
        case .all:
            return old.key.scope != .all
        }
    }

    private mutating func close(_ id: Int) {
        guard let a = open.removeValue(forKey: id) else { return }
        unregister(a)
        byKeyCause.removeValue(forKey: AlertKey(key: a.key, cause: a.cause))
        byKey[a.key]?.removeAll { $0 == id }
        if byKey[a.key]?.isEmpty == true { byKey.removeValue(forKey: a.key) }
    }

    // MARK: - Time

    /// Whether the clock takes a line dated `t`.
    private mutating func admit(_ t: Int64) -> Bool {
        if let ceiling, t > ceiling {
            futureOutliers &+= 1
            return false
        }
        if now == Int64.min || t <= now &+ config.clockLeap {
            leapCandidate = nil
            return true
        }
        if let c = leapCandidate, t >= c &- config.clockLeap, t <= c &+ config.clockLeap {
            leapCandidate = nil
            return true
        }
        leapCandidate = t
        futureOutliers &+= 1
        return false
    }

    /// Moves log time forward (never back) and runs the periodic checks: resolve, escalate,
    /// remind. The daemon calls this with the wall clock when the log is quiet.
    public mutating func advance(to t: Int64) -> [AlertTransition] {
        if t > now && (ceiling.map { t <= $0 } ?? true) { now = t }
        guard now >= nextTick else { return [] }
        nextTick = (now / config.bucket + 1) * config.bucket
        guard !open.isEmpty else {
            due.removeAll()
            return []
        }
        var out: [AlertTransition] = []
        // Only the alerts that may be due, in the order of their ids (the order of the
        // transitions): the others would neither resolve, escalate nor remind.
        let candidates = due.popDue(now)
        for id in examineEveryAlert ? open.keys.sorted() : candidates.sorted() {
            guard let a = open[id] else { continue }
            alertsExamined &+= 1
            let th = config.thresholds(a.cause)
            let quiet = now - a.lastSeen
            let flowing = (a.lastSuccess ?? Int64.min) > a.lastSeen
            if (quiet >= th.resolveAfter && flowing) || quiet >= th.resolveAfter * config.staleFactor {
                var tr = transition(a, .resolve, at: now)
                tr.severity = .notice
                out.append(tr)
                close(a.id)
                continue
            }
            defer { due.push(max(dueTime(open[id]!), nextTick), id) }
            guard quiet < th.resolveAfter else { continue }
            if a.escalations == 0 && now - a.openedAt >= th.escalateAfter {
                open[a.id]!.escalations = 1
                open[a.id]!.severity = max(a.severity, .error)
                open[a.id]!.nextRemind = now + config.remindEvery
                out.append(transition(open[a.id]!, .escalate, at: now))
            } else if now >= a.nextRemind {
                while open[a.id]!.nextRemind <= now { open[a.id]!.nextRemind += config.remindEvery }
                out.append(transition(open[a.id]!, .remind, at: now))
            }
        }
        return out
    }

    /// The earliest log time at which the periodic check could act on `a`: it cannot
    /// resolve before `resolveAfter` of quiet, escalate before `escalateAfter` from its
    /// opening, nor remind before `nextRemind`.
    func dueTime(_ a: Alert) -> Int64 {
        let th = config.thresholds(a.cause)
        var t = min(a.lastSeen &+ th.resolveAfter, a.nextRemind)
        if a.escalations == 0 { t = min(t, a.openedAt &+ th.escalateAfter) }
        return t
    }

    /// The alerts still open when the input ends, as `open` summaries.
    public func summariesAtEnd() -> [AlertTransition] {
        openAlerts.map { a in
            var t = transition(a, .open, at: max(now, a.lastSeen))
            t.endOfInput = true
            return t
        }
    }

    // MARK: - Helpers

    private mutating func noteHost(_ h: String) {
        if h == lastHost { return }
        lastHost = h
        lastHostHash = DestinationKey.hash(h)
        guard hosts.count < 1024 && !hosts.contains(h) else { return }
        hosts.append(h)
        if hosts.count == 2 { splitFirstHost() }
    }

    /// While one sending host is seen, its per-host windows would equal the shared ones, so
    /// only the shared ones are kept. When a second host appears, the first host's windows
    /// are made from the shared ones: every attempt so far was that host's.
    private mutating func splitFirstHost() {
        let first = hosts[0], hash = DestinationKey.hash(first)
        var copies: [(DestinationKey, SlidingWindow)] = []
        windows.forEach { k, w in if k.host == nil { copies.append((k.withHost(first, hash: hash), w)) } }
        for (k, w) in copies { windows[k] = w }
    }

    /// The keys of one event: the domain, relay and provider for all hosts together (0-2),
    /// and the same for the event's sending host (3-5). No arrays: this runs per event.
    struct EventKeys {
        var domain: DestinationKey?
        var relay: DestinationKey?
        var provider: DestinationKey?
        var domainOnHost: DestinationKey?
        var relayOnHost: DestinationKey?
        var providerOnHost: DestinationKey?
        let host: String
        let hostHash: Int
        /// How many of the keys count the event in windows: the shared three, and the
        /// per-host ones once several sending hosts were seen.
        var windowed = 3

        subscript(i: Int) -> DestinationKey? {
            switch i {
            case 0: domain
            case 1: relay
            case 2: provider
            case 3: domainOnHost
            case 4: relayOnHost
            default: providerOnHost
            }
        }

        func onHost(_ k: DestinationKey) -> DestinationKey { k.withHost(host, hash: hostHash) }
    }

    /// `hashes`: taken ahead on another thread (DestinationHashes), or nil: taken here.
    private func keys(of e: DeliveryEvent, hashes: DestinationHashes?) -> EventKeys {
        var k = EventKeys(host: e.host, hostHash: e.host == lastHost ? lastHostHash : DestinationKey.hash(e.host))
        if let d = e.domain { k.domain = DestinationKey(.domain, d, nameHash: hashes?.domain ?? DestinationKey.hash(d)) }
        if let r = e.relay { k.relay = DestinationKey(.relay, r, nameHash: hashes?.relay ?? DestinationKey.hash(r)) }
        if let p = e.provider { k.provider = DestinationKey(.provider, p, nameHash: hashes?.provider ?? DestinationKey.hash(p)) }
        // The per-host keys serve windows (several hosts) and open alerts (any of them may be
        // a host's); with neither, they are not made.
        if hosts.count > 1 || !open.isEmpty {
            k.domainOnHost = k.domain.map(k.onHost)
            k.relayOnHost = k.relay.map(k.onHost)
            k.providerOnHost = k.provider.map(k.onHost)
        }
        if hosts.count > 1 { k.windowed = 6 }
        return k
    }

    func transition(_ a: Alert, _ state: AlertState, at t: Int64) -> AlertTransition {
        AlertTransition(time: t, state: state, severity: state == .resolve ? .notice : a.severity, alert: a,
                        window: config.window, hint: hints.hint(cause: a.cause, mta: a.mta, provider: a.provider),
                        absorbedBy: nil, host: displayHost(a))
    }
}

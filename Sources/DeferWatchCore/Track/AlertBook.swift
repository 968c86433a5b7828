/// The alert state machine of DESIGN.md: the open alerts and what they speak for, how an
/// alert opens (taking over the narrower alerts it explains, or folding into its cause's
/// wider alert in a storm), what a delivery, a deferral or an expiry does to the alerts that
/// cover it, and the periodic check that escalates, reminds and resolves. It knows nothing
/// of windows: which destination crossed its thresholds is DestinationWindows's answer,
/// handed in by the tracker. Pure: every change returns the transitions to write.
struct AlertBook {
    private(set) var config: TrackerConfig
    private(set) var hints: HintBook
    /// The sending host an alert without a host of its own speaks for: the only host seen,
    /// nil once there are several (the tracker keeps it up to date).
    var soleHost: String?

    private(set) var open: [Int: Alert] = [:]
    private var byKeyCause: [AlertKey: Int] = [:]
    private var byKey: [DestinationKey: [Int]] = [:]
    /// Open alerts by what a wider alert would take over (AlertBook+Storm.swift).
    var related: [Relation: Set<Int>] = [:]
    /// The wider alert (scope `all`) of each cause in a storm, and the destinations folded
    /// into it.
    var wide: [Cause: Int] = [:]
    var folded: [Cause: Set<Int>] = [:]
    /// Destinations that crossed their thresholds while `maxOpenAlerts` were open, and went
    /// into their cause's wider alert instead of an alert of their own.
    var alertsFolded = 0
    /// Open alerts of a saved state not taken back, being over `maxOpenAlerts`.
    private(set) var restoredOverCap = 0
    /// When each (destination, cause) opened an alert lately: the `recurring` count.
    private var history: BoundedMap<AlertKey, [Int64]>
    private(set) var nextID = 1
    /// When each open alert next needs the periodic check (DueQueue.swift).
    var due = DueQueue()
    /// Open alerts the periodic checks looked at, all told (the tests' measure of its cost).
    private(set) var alertsExamined = 0
    /// Tests only: look at every open alert at each check, as before the due queue.
    var examineEveryAlert = false

    struct AlertKey: Hashable {
        var key: DestinationKey
        var cause: Cause
    }

    init(config: TrackerConfig, hints: HintBook) {
        self.config = config
        self.hints = hints
        history = BoundedMap(capacity: 65_536)
    }

    /// New thresholds: the open alerts carry on, due when the new ones say.
    mutating func reconfigure(config new: TrackerConfig, hints: HintBook) {
        config = new
        self.hints = hints
        due.removeAll()
        for a in open.values { due.push(dueTime(a), a.id) }
    }

    var isEmpty: Bool { open.isEmpty }
    var count: Int { open.count }

    /// The alerts open now, oldest first.
    var openAlerts: [Alert] { open.values.sorted { $0.id < $1.id } }

    /// The sending host an alert speaks for: its own, or the only host seen.
    func displayHost(_ a: Alert) -> String? { a.key.host ?? soleHost }

    func transition(_ a: Alert, _ state: AlertState, at t: Int64) -> AlertTransition {
        AlertTransition(time: t, state: state, severity: state == .resolve ? .notice : a.severity, alert: a,
                        window: config.window, hint: hints.hint(cause: a.cause, mta: a.mta, provider: a.provider),
                        absorbedBy: nil, host: displayHost(a),
                        fix: state == .resolve ? nil : hints.fix(for: a, window: config.window, now: t))
    }

    /// Changes an open alert in place: through the dictionary's values, as `open[id]!.x`
    /// copied the whole alert (and its recipient set, on an insert) for every field.
    mutating func updateOpen(_ id: Int, _ body: (inout Alert) -> Void) {
        if let i = open.index(forKey: id) { body(&open.values[i]) }
    }

    // MARK: - What the events do to open alerts

    /// A delivery to one of the keys: the alerts on them (and a storm's wider alerts, which
    /// speak of every destination) count an attempt that went through.
    mutating func delivered(_ keys: EventKeys, at t: Int64) {
        guard !open.isEmpty else { return }
        for i in 0..<6 {
            guard let k = keys[i] else { continue }
            for id in byKey[k] ?? [] {
                updateOpen(id) { a in
                    a.attempts += 1
                    a.lastSuccess = max(a.lastSuccess ?? Int64.min, t)
                }
            }
        }
        for id in wide.values {
            updateOpen(id) { a in
                a.attempts += 1
                a.lastSuccess = max(a.lastSuccess ?? Int64.min, t)
            }
        }
    }

    /// A message to one of the keys expired: their alerts become critical.
    mutating func expired(_ keys: EventKeys, at t: Int64) -> [AlertTransition] {
        guard !open.isEmpty else { return [] }
        var out: [AlertTransition] = []
        for id in Set((0..<6).flatMap { keys[$0].flatMap { byKey[$0] } ?? [] }).sorted() {
            open[id]!.expired += 1
            if open[id]!.severity < .critical {
                open[id]!.severity = .critical
                open[id]!.escalations += 1
                out.append(transition(open[id]!, .escalate, at: t))
            }
        }
        return out
    }

    /// A message deferred for `cause` to one of the keys came within `at_risk_before` of
    /// expiring: the alert that covers it counts it and becomes critical.
    /// nil: no alert covers it.
    mutating func atRisk(_ keys: EventKeys, cause: Cause, at t: Int64) -> [AlertTransition]? {
        guard let id = wide[cause] ?? covering(keys, cause: cause) else { return nil }
        open[id]!.atRisk = (open[id]!.atRisk ?? 0) &+ 1
        guard open[id]!.severity < .critical else { return [] }
        open[id]!.severity = .critical
        open[id]!.escalations += 1
        return [transition(open[id]!, .escalate, at: t)]
    }

    /// The open alert that already speaks for a deferral of `cause`, if any: the
    /// provider's first, then the relay's, then the domain's; each for all hosts, then for
    /// the event's host.
    func covering(_ keys: EventKeys, cause: Cause) -> Int? {
        guard !open.isEmpty else { return nil }
        for i in stride(from: 2, through: 0, by: -1) {
            guard let k = keys[i] else { continue }
            if let id = byKeyCause[AlertKey(key: k, cause: cause)] { return id }
            if let h = keys[i + 3], let id = byKeyCause[AlertKey(key: h, cause: cause)] { return id }
        }
        return nil
    }

    /// A deferral an open alert covers (`covering`).
    mutating func add(_ e: DeliveryEvent, recipient: Int?, to id: Int, at t: Int64) {
        updateOpen(id) { a in
            a.deferrals += 1
            a.attempts += 1
            a.lastSeen = max(a.lastSeen, t)
            if let r = recipient, a.recipientHashes.count < Alert.recipientCap { a.recipientHashes.insert(r) }
            if a.sample.isEmpty && !e.inherited { a.sample = Alert.cappedSample(e.text) }
        }
    }

    // MARK: - Opening and closing

    /// `key` crossed the thresholds of `cause` with `e` (`totals`: its counts in the window,
    /// `window`: its window, for the sample and the recipients). In a storm (past
    /// `maxOpenAlerts`, or once the cause's wider alert is open) the destination is counted
    /// in that wider alert instead of opening one of its own.
    mutating func raise(_ key: DestinationKey, _ e: DeliveryEvent, cause: Cause, at t: Int64,
                        totals tot: SlidingWindow.Totals, window: SlidingWindow?) -> [AlertTransition] {
        if key.scope != .all {
            if let id = wide[cause] {
                fold(key, into: id, at: t)
                return []
            }
            if open.count >= config.maxOpenAlerts {
                var out = raise(Self.allKey, e, cause: cause, at: t, totals: tot, window: nil)
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
            recurring: past.count, sample: Alert.cappedSample(e.inherited ? (window?.sample(cause) ?? "") : e.text),
            nextRemind: t + config.remindEvery, escalations: 0, rule: e.rule, confidence: e.confidence)
        a.sendingHost = displayHost(a)
        a.recipientHashes = window?.recipients(cause) ?? []
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
        insert(a)
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

    private mutating func insert(_ a: Alert) {
        open[a.id] = a
        byKeyCause[AlertKey(key: a.key, cause: a.cause)] = a.id
        byKey[a.key, default: []].append(a.id)
        register(a)
    }

    private mutating func close(_ id: Int) {
        guard let a = open.removeValue(forKey: id) else { return }
        unregister(a)
        byKeyCause.removeValue(forKey: AlertKey(key: a.key, cause: a.cause))
        byKey[a.key]?.removeAll { $0 == id }
        if byKey[a.key]?.isEmpty == true { byKey.removeValue(forKey: a.key) }
    }

    // MARK: - Time

    /// The periodic check at log time `now` (the tracker's clock; `nextTick`: when it next
    /// runs): resolve, escalate, remind.
    mutating func check(now: Int64, nextTick: Int64) -> [AlertTransition] {
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

    // MARK: - Restarts

    /// Takes back the open alerts of an earlier run (a state saved with more than
    /// `maxOpenAlerts` keeps the most recently active); returns the alerts taken.
    mutating func restore(_ saved: [Alert], nextID savedNext: Int) -> [Alert] {
        var alerts = saved
        if alerts.count > config.maxOpenAlerts {
            let keep = Set(alerts.sorted { ($0.lastSeen, $0.id) > ($1.lastSeen, $1.id) }.prefix(config.maxOpenAlerts).map(\.id))
            restoredOverCap += alerts.count - keep.count
            alerts = alerts.filter { keep.contains($0.id) }
        }
        for a in alerts {
            insert(a)
            let ak = AlertKey(key: a.key, cause: a.cause)
            history[ak] = (history[ak] ?? []) + [a.openedAt]
        }
        nextID = max(nextID, savedNext)
        return alerts
    }
}

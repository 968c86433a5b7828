/// Turns classified delivery events into alert transitions. Pure: time comes from the events
/// (and from `advance(to:)`, which the daemon calls when the log is quiet); mutating methods
/// return what should be written and never write it themselves.
///
/// Two halves and a clock. `DestinationWindows` counts every attempt under its recipient
/// domain, relay host and provider (per sending host too, once several are seen) in sliding
/// windows of log time, and says which key a deferral makes cross its cause's thresholds:
/// the provider when its other domains defer too, a relay serving several deferring domains,
/// else the domain; one sending host when only it is deferred. `AlertBook` is the alert
/// state machine: it opens the alert (taking over the narrower ones it explains, or folding
/// into a storm's wider alert), counts what its destinations do, and escalates, reminds and
/// resolves on the periodic check. The tracker keeps log time (`now`, the ceiling, the
/// guard against a lone future-dated line) and the storm seen under key pressure, which
/// needs both halves.
public struct DeferralTracker {
    public private(set) var config: TrackerConfig
    public var hints: HintBook { book.hints }

    /// The counting half: windows per destination key, the sending hosts, the messages.
    var windows: DestinationWindows
    /// The deciding half: the open alerts and their state machine.
    var book: AlertBook
    /// Under key pressure (windows dropped before they fill): per cause, the destinations
    /// seen deferring recently (hash -> last time), bounded; and when windows were last dropped.
    var stormSeen: [Cause: [Int: Int64]] = [:]
    var lastEvictions = 0
    var lastEvictionAt = Int64.min
    public private(set) var now: Int64 = Int64.min
    /// The newest event time the clock took: what status calls the log time. `now` may be
    /// past it, moved on by `advance(to:)` while the log is quiet.
    public private(set) var newestEvent: Int64 = Int64.min
    private var nextTick: Int64 = Int64.min
    /// The latest log time the caller allows (`run`: the wall clock plus `clockLeap`); nil
    /// in `analyze`, where only the lines say what time it is.
    public var ceiling: Int64?
    /// Events the clock did not take: dated past `ceiling`, or a jump ahead no second line
    /// confirmed. They are not tracked (the report and the counters still have them).
    public private(set) var futureOutliers = 0
    /// A line far ahead of `now`, waiting for a second one to confirm the jump.
    private var leapCandidate: Int64?

    public init(config: TrackerConfig = TrackerConfig(), hints: HintBook) {
        self.config = config
        windows = DestinationWindows(config: config)
        book = AlertBook(config: config, hints: hints)
    }

    /// Takes a reloaded configuration: open alerts carry on under the new thresholds; the
    /// windows are kept unless their shape (window or bucket length) changed.
    public mutating func reconfigure(config new: TrackerConfig, hints: HintBook) {
        windows.reconfigure(config: new)
        book.reconfigure(config: new, hints: hints)
        config = new
    }

    /// Destinations that crossed their thresholds while `maxOpenAlerts` were open, and went
    /// into their cause's wider alert instead of an alert of their own.
    public var alertsFolded: Int { book.alertsFolded }
    /// Open alerts of a saved state not taken back, being over `maxOpenAlerts`.
    public var restoredOverCap: Int { book.restoredOverCap }
    /// Open alerts the periodic checks looked at, all told (the tests' measure of its cost).
    public var alertsExamined: Int { book.alertsExamined }
    /// Tests only: look at every open alert at each check, as before the due queue, to
    /// show that looking only at the due ones changes nothing.
    public var examineEveryAlert: Bool {
        get { book.examineEveryAlert }
        set { book.examineEveryAlert = newValue }
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

    public var snapshot: Snapshot { Snapshot(alerts: openAlerts, nextID: book.nextID, now: now, newestEvent: newestEvent) }

    /// Takes back the open alerts of an earlier run, so a restart neither forgets an open
    /// alert nor raises it again (the windows start empty and fill again).
    public mutating func restore(_ s: Snapshot) {
        for a in book.restore(s.alerts, nextID: s.nextID) {
            // The hosts the restored alerts spoke for are the hosts seen so far.
            if let h = a.sendingHost, a.key.host == nil { noteHost(h) }
        }
        // A saved "now" past the ceiling (a future-dated line the earlier run believed) is
        // not taken back: it would keep the clock wrong across restarts.
        if s.now > now && (ceiling.map { s.now <= $0 } ?? true) { now = s.now }
        let newest = min(s.newestEvent ?? s.now, s.now)
        if newest > newestEvent && newest <= now { newestEvent = newest }
    }

    /// The alerts open now, oldest first.
    public var openAlerts: [Alert] { book.openAlerts }

    /// The open alert with this id, if it is open.
    public func openAlert(id: Int) -> Alert? { book.open[id] }

    /// How many alerts are open (without sorting them).
    public var openAlertCount: Int { book.count }

    /// Destination keys currently holding a window (bounded by `config.maxKeys`).
    public var trackedKeys: Int { windows.count }

    /// The sending host an alert speaks for: its own, or the only host seen.
    public func displayHost(_ a: Alert) -> String? { book.displayHost(a) }

    // MARK: - Events

    /// `sender`: the sender domain of the event's message, when known (SenderBook).
    public mutating func record(_ e: DeliveryEvent, hashes: DestinationHashes? = nil, sender: String? = nil) -> [AlertTransition] {
        guard let t = e.time, admit(t) else { return [] }
        if t > newestEvent { newestEvent = t }
        var out = advance(to: t)
        let b = t / config.bucket
        noteHost(e.host)
        let keys = windows.keys(of: e, hashes: hashes, alertsOpen: !book.isEmpty)
        switch e.status {
        case .sent:
            windows.countAttempt(keys, bucket: b)
            book.delivered(keys, at: t)
        case .bounced:
            windows.countAttempt(keys, bucket: b)
        case .expired:
            // A message that expired in this host's own queue trouble says nothing of a destination.
            if e.cause?.isLocal != true { out += book.expired(keys, at: t) }
        case .deferred:
            // The sending MTA's own decision (queued by configuration, a local filter down):
            // no destination is deferring, so no destination window counts it.
            if e.cause?.isLocal == true { break }
            out += deferral(e, at: t, bucket: b, keys: keys, message: hashes?.message, sender: sender)
        }
        return out
    }

    private mutating func deferral(_ e: DeliveryEvent, at t: Int64, bucket b: Int64, keys: EventKeys, message: Int?,
                                   sender: String?) -> [AlertTransition] {
        let cause = e.cause ?? .other
        let (counts, recipient) = windows.countDeferral(e, cause: cause, keys: keys, at: t, bucket: b, message: message, sender: sender)
        // A storm's wider alert of this cause takes every deferral of it.
        if let id = book.wide[cause] {
            if counts, let k = keys.domain ?? keys.relay { book.fold(k, into: id, at: t) }
            return []
        }
        if counts, windows.evictions > 0, let out = stormUnderPressure(e, key: keys.domain ?? keys.relay, cause: cause, at: t) {
            return out
        }
        if let id = book.covering(keys, cause: cause) {
            book.add(e, recipient: recipient, to: id, at: t)
            if let sender { book.updateOpen(id) { $0.noteSender(sender) } }
            return []
        }
        guard counts else { return [] }
        let th = config.thresholds(cause)
        guard th.enabled, let key = windows.crossing(keys, cause: cause, thresholds: th, now: now) else { return [] }
        var out = book.raise(key, e, cause: cause, at: t, totals: windows.totals(key, cause, now: now), window: windows.window(key))
        // The senders of the key's recent deferrals of the cause, this one's among them
        // (later deferrals add theirs).
        let seen = windows.window(key)?.senders(cause) ?? []
        if !seen.isEmpty {
            for i in out.indices where out[i].state == .open {
                for s in seen.reversed() { out[i].alert.noteSender(s) }
                let senders = out[i].alert.senders
                book.updateOpen(out[i].alert.id) { $0.senders = senders }
            }
        }
        return out
    }

    /// A deferred message of the event's destination is close to expiring (QueueBook): the
    /// alert covering it counts it and escalates to critical. nil: no alert covers it (the
    /// message is offered again at its next deferral).
    public mutating func atRisk(_ e: DeliveryEvent, hashes: DestinationHashes? = nil) -> [AlertTransition]? {
        guard let t = e.time, !book.isEmpty, e.cause?.isLocal != true else { return nil }
        let keys = windows.keys(of: e, hashes: hashes, alertsOpen: true)
        return book.atRisk(keys, cause: e.cause ?? .other, at: max(t, now))
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
        return book.check(now: now, nextTick: nextTick)
    }

    /// The alerts still open when the input ends, as `open` summaries.
    public func summariesAtEnd() -> [AlertTransition] {
        openAlerts.map { a in
            var t = book.transition(a, .open, at: max(now, a.lastSeen))
            t.endOfInput = true
            return t
        }
    }

    private mutating func noteHost(_ h: String) {
        if windows.noteHost(h) { book.soleHost = windows.soleHost }
    }
}

/// The destination windows: every attempt counted under its recipient domain, its relay
/// host and its provider (and, once more than one sending host is seen, under each of those
/// per host), in sliding windows of log time, with the memory of each message that says
/// which deferrals count. Which destination a deferral makes cross its cause's thresholds,
/// and on which key, is decided here (`crossing`); what then happens is the alert book's.
struct DestinationWindows {
    private(set) var config: TrackerConfig
    private(set) var windows: BoundedMap<DestinationKey, SlidingWindow>
    private var messages: BoundedMap<HashKey, MessageMemory>
    /// The sending hosts seen (at most 1,024 are told apart).
    private(set) var hosts: [String] = []
    /// The last event's sending host and its hash (most logs come from one host).
    private var lastHost: String?
    private var lastHostHash = 0
    /// Every attempt and deferral of the host, one window for all (the storm's share).
    private(set) var everything: SlidingWindow

    struct MessageMemory {
        /// The message's last deferral that counted towards an alert.
        var lastCounted: Int64
        var greylisted: Int
    }

    init(config: TrackerConfig) {
        self.config = config
        windows = BoundedMap(capacity: max(16, config.maxKeys))
        messages = BoundedMap(capacity: max(16, config.maxMessages))
        everything = SlidingWindow(buckets: config.bucketCount)
    }

    /// A reloaded configuration: the windows are kept unless their shape (window or bucket
    /// length, or how many) changed.
    mutating func reconfigure(config new: TrackerConfig) {
        if new.window != config.window || new.bucket != config.bucket || new.maxKeys != config.maxKeys {
            windows = BoundedMap(capacity: max(16, new.maxKeys))
            everything = SlidingWindow(buckets: new.bucketCount)
        }
        if new.maxMessages != config.maxMessages { messages = BoundedMap(capacity: max(16, new.maxMessages)) }
        config = new
    }

    /// Windows dropped so far to stay within `maxKeys` (key pressure).
    var evictions: Int { windows.evictions }
    /// Destination keys holding a window.
    var count: Int { windows.count }
    /// The only sending host seen, if one.
    var soleHost: String? { hosts.count == 1 ? hosts[0] : nil }

    func window(_ k: DestinationKey) -> SlidingWindow? { windows.peek(k) }

    func forEach(_ body: (DestinationKey, SlidingWindow) -> Void) { windows.forEach(body) }

    /// Notes the sending host of an event; whether the hosts seen changed.
    @discardableResult
    mutating func noteHost(_ h: String) -> Bool {
        if h == lastHost { return false }
        lastHost = h
        lastHostHash = DestinationKey.hash(h)
        guard hosts.count < 1024 && !hosts.contains(h) else { return false }
        hosts.append(h)
        if hosts.count == 2 { splitFirstHost() }
        return true
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

    /// The keys of one event. `hashes`: taken ahead on another thread (DestinationHashes), or
    /// nil: taken here. `alertsOpen`: the per-host keys serve windows (several hosts) and open
    /// alerts (any of them may be a host's); with neither, they are not made.
    func keys(of e: DeliveryEvent, hashes: DestinationHashes?, alertsOpen: Bool) -> EventKeys {
        var k = EventKeys(host: e.host, hostHash: e.host == lastHost ? lastHostHash : DestinationKey.hash(e.host))
        if let d = e.domain { k.domain = DestinationKey(.domain, d, nameHash: hashes?.domain ?? DestinationKey.hash(d)) }
        if let r = e.relay { k.relay = DestinationKey(.relay, r, nameHash: hashes?.relay ?? DestinationKey.hash(r)) }
        if let p = e.provider { k.provider = DestinationKey(.provider, p, nameHash: hashes?.provider ?? DestinationKey.hash(p)) }
        if hosts.count > 1 || alertsOpen {
            k.domainOnHost = k.domain.map(k.onHost)
            k.relayOnHost = k.relay.map(k.onHost)
            k.providerOnHost = k.provider.map(k.onHost)
        }
        if hosts.count > 1 { k.windowed = 6 }
        return k
    }

    /// An attempt that did not defer (sent or bounced), in log-time bucket `b`.
    mutating func countAttempt(_ keys: EventKeys, bucket b: Int64) {
        everything.addAttempt(bucket: b)
        for i in 0..<keys.windowed {
            if let k = keys[i] { windows.withValue(k, default: SlidingWindow(buckets: config.bucketCount)) { $0.addAttempt(bucket: b) } }
        }
    }

    /// A deferral of `cause` at `t` (bucket `b`). Returns whether it counts towards an alert
    /// (greylisting only when it repeats for the message) and its recipient's hash.
    mutating func countDeferral(_ e: DeliveryEvent, cause: Cause, keys: EventKeys, at t: Int64,
                                bucket b: Int64, message: Int? = nil, sender: String? = nil) -> (counts: Bool, recipient: Int?) {
        // The message (its host and queue id: `DeliveryEvent.messageHash`, or the same taken
        // ahead) to this domain.
        let mh = HashKey((message ?? e.messageHash) ^ ((keys.domain?.nameHash ?? 0) &* 0x1E37_79B9_7F4A_7C15))
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
                              recipient: recipient, sample: sample, sender: sender)
                if let p = e.provider, w.provider != p { w.provider = p }
            }
        }
        return (counts, recipient)
    }

    /// The counts of `k` for cause `c` in the window ending at log time `now`.
    func totals(_ k: DestinationKey, _ c: Cause, now: Int64) -> SlidingWindow.Totals {
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

    /// The narrowest key that explains the pattern when a deferral of `cause` makes one of
    /// the event's destinations cross the thresholds, or nil:
    /// - the provider, when the provider's other domains defer for the cause too;
    /// - a relay host, when it serves several deferring domains of no known provider;
    /// - else the recipient domain;
    /// and on one sending host when only that host is deferred (its IP is the one throttled).
    func crossing(_ keys: EventKeys, cause: Cause, thresholds th: CauseThresholds, now: Int64) -> DestinationKey? {
        let domainKey = keys.domain
        let relayKey = keys.relay
        let providerKey = keys.provider
        let domainTotals = domainKey.map { totals($0, cause, now: now) }

        var chosen: DestinationKey?
        if let pk = providerKey {
            let pt = totals(pk, cause, now: now)
            if passes(pt, th) && (domainTotals == nil || spreads(pt, minus: domainTotals, th)) { chosen = pk }
        }
        if chosen == nil, let dk = domainKey, let dt = domainTotals, passes(dt, th) {
            chosen = dk
            if providerKey == nil, let rk = relayKey, spreads(totals(rk, cause, now: now), minus: dt, th) { chosen = rk }
        }
        // A relay of no known provider that defers for several domains, none of which crosses
        // on its own (a hosting provider's MX).
        if chosen == nil, providerKey == nil, let rk = relayKey {
            let rt = totals(rk, cause, now: now)
            if passes(rt, th) && (domainTotals == nil || spreads(rt, minus: domainTotals, th)) { chosen = rk }
        }
        guard var key = chosen else { return nil }

        // One sending host, or the fleet?
        if hosts.count > 1 {
            let all = totals(key, cause, now: now)
            let mine = totals(keys.onHost(key), cause, now: now)
            let others = SlidingWindow.Totals(attempts: all.attempts - mine.attempts, deferrals: all.deferrals - mine.deferrals)
            if passes(mine, th) && (others.attempts == 0 || others.share < th.minShare / 2) {
                key = keys.onHost(key)
            }
        }
        return key
    }
}

/// The keys of one event: the domain, relay and provider for all hosts together (0-2), and
/// the same for the event's sending host (3-5). No arrays: this runs per event.
struct EventKeys {
    var domain: DestinationKey?
    var relay: DestinationKey?
    var provider: DestinationKey?
    var domainOnHost: DestinationKey?
    var relayOnHost: DestinationKey?
    var providerOnHost: DestinationKey?
    let host: String
    let hostHash: Int
    /// How many of the keys count the event in windows: the shared three, and the per-host
    /// ones once several sending hosts were seen.
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

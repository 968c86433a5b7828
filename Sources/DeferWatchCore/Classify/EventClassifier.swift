/// Gives each delivery event its provider and, for failures, its cause. Remembers the last
/// classified failure per relay host, per recipient domain and per queue id (bounded), so a
/// line that carries no reason of its own (Exim "retry time not reached", a Postfix
/// "delivery temporarily suspended" whose reason quotes no reply and no rule explains beyond
/// a class, an expiry) inherits the
/// cause that put the destination on hold, marked `inherited`.
public struct EventClassifier {
    public let rules: RuleSet
    private var scratch = RuleSet.Scratch()
    private var byRelay: BoundedMap<String, Memory>
    private var byDomain: BoundedMap<String, DomainMemory>
    private var byQueue: BoundedMap<String, QueueMemory>

    struct Memory {
        var cause: Cause
        var confidence: Confidence
    }

    struct DomainMemory {
        var cause: Memory
        var relay: String?
    }

    struct QueueMemory {
        var cause: Memory
        var domain: String?
        var relay: String?
    }

    public init(rules: RuleSet, memory: Int = 65_536) {
        self.rules = rules
        byRelay = BoundedMap(capacity: memory)
        byDomain = BoundedMap(capacity: memory)
        byQueue = BoundedMap(capacity: memory)
    }

    /// `relayProvider`: the relay's provider as the parser's RelayNames found it (an index,
    /// -1: none), so the relay is not looked up again; nil: looked up here.
    public mutating func classify(_ e: inout DeliveryEvent, relayProvider: Int32? = nil) {
        let next = Self.match(&e, relayProvider: relayProvider, rules: rules, scratch: &scratch)
        settle(&e, next)
    }

    /// What `settle` still has to do with an event `match` classified.
    public enum Settling: Sendable {
        /// Nothing: the event is final.
        case done
        /// Remember its cause, for later lines that inherit one.
        case remember
        /// Take its cause from an earlier failure: until then the event is not final.
        case inherit
    }

    /// The first step, pure (so it runs on any thread, in any order): the provider, and the
    /// cause of a failure that carries its own reason. `settle` must follow, in log order,
    /// with what this returns.
    public static func match(_ e: inout DeliveryEvent, relayProvider: Int32? = nil, rules: RuleSet,
                             scratch: inout RuleSet.Scratch) -> Settling {
        let providerIndex: Int?
        if let hint = relayProvider {
            // The parser found the relay's provider already (or that it has none).
            providerIndex = hint >= 0 ? Int(hint) : rules.providerIndex(relay: nil, domain: e.domain)
        } else {
            providerIndex = rules.providerIndex(relay: e.relay, domain: e.domain, scratch: &scratch)
        }
        e.provider = providerIndex.map { rules.providers[$0].name }
        if e.status == .sent { return .done }
        if e.wantsInheritedCause { return .inherit }
        var reason = e.reason
        let (cause, rule) = reason.withUTF8 { rules.classify($0, code: e.code, dsn: e.dsn, provider: providerIndex, scratch: &scratch) }
        if e.reasonStart > 0 && e.code == nil && (rule.map { rules.rules[$0].layer >= .class } ?? true) {
            // "delivery temporarily suspended: <a reason no rule knows, or only a code's
            // class or bare words>": the cause that suspended the destination; the class is
            // the fallback. A reason that quotes a reply ("host H[ip] refused to talk to me:
            // 421 ...") is weighed like the reply itself, down to its code's class: the reply
            // decides (labelling policy L19), not an older failure of that destination.
            if let rule {
                e.cause = cause
                e.rule = rules.rules[rule].id
                e.confidence = rules.rules[rule].layer.confidence
            }
            return .inherit
        }
        e.cause = cause
        e.rule = rule.map { rules.rules[$0].id }
        e.confidence = rule.map { rules.rules[$0].layer.confidence } ?? .low
        e.inherited = false
        return rule != nil ? .remember : .done
    }

    /// The second step, in log order: inheritance from, and memory of, earlier failures.
    public mutating func settle(_ e: inout DeliveryEvent, _ next: Settling) {
        switch next {
        case .inherit:
            inherit(&e)
            if e.wantsInheritedCause && e.provider == nil {
                e.provider = rules.providerIndex(relay: e.relay, domain: e.domain).map { rules.providers[$0].name }
            }
        case .remember:
            remember(e, Memory(cause: e.cause ?? .other, confidence: e.confidence ?? .low))
        case .done:
            break
        }
    }

    private mutating func inherit(_ e: inout DeliveryEvent) {
        if e.status == .expired, let q = byQueue[e.queueID] {
            take(q.cause, &e)
            if e.domain == nil { e.domain = q.domain }
            if e.relay == nil { e.relay = q.relay }
            e.rule = nil
            return
        }
        if let relay = e.relay, let c = byRelay[relay] {
            take(c, &e)
        } else if let domain = e.domain, let m = byDomain[domain] {
            // "retry time not reached for any host for 'example.org'": the hosts are the ones
            // that failed before, so the event speaks of that relay (and its provider).
            take(m.cause, &e)
            if e.relay == nil { e.relay = m.relay }
        } else if let q = byQueue[e.queueID] {
            take(q.cause, &e)
        } else if e.cause == nil || e.inherited {
            e.cause = .other
            e.confidence = .low
            e.rule = nil
            e.inherited = false
        }
        // else: nothing to inherit; the class rule `match` found stands.
    }

    private func take(_ m: Memory, _ e: inout DeliveryEvent) {
        e.cause = m.cause
        e.confidence = m.confidence
        e.rule = nil
        e.inherited = true
    }

    /// A local cause is remembered for its message only: it says nothing of the relay or
    /// the domain, whose later "retry time not reached" must not inherit it. A cause from a
    /// code's class alone does not replace a better-founded one.
    private mutating func remember(_ e: DeliveryEvent, _ cause: Memory) {
        func keeps(_ old: Memory?) -> Bool { old.map { cause.confidence == .low && $0.confidence > .low } ?? false }
        if !cause.cause.isLocal {
            if let relay = e.relay, !keeps(byRelay[relay]) { byRelay[relay] = cause }
            if let domain = e.domain, !keeps(byDomain[domain]?.cause) { byDomain[domain] = DomainMemory(cause: cause, relay: e.relay) }
        }
        if !keeps(byQueue[e.queueID]?.cause) { byQueue[e.queueID] = QueueMemory(cause: cause, domain: e.domain, relay: e.relay) }
    }
}

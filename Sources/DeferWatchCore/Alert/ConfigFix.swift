/// A change to the sending MTA's own configuration that fixes the cause of an alert, with
/// values derived from what the alert observed: the text to paste into Postfix's or Exim's
/// configuration, file by file, and the commands that make it take effect. Carried by
/// `status alerts`, `/v1/alerts` (the alert's `fix`) and printed alone by
/// `deferwatch suggest ALERT-ID`.
///
/// Only causes a configuration change fixes have one (`derive` returns nil for the others):
///
/// - `rate_limit`: the receiver accepts this many messages a minute and defers the rest.
///   Postfix: a transport of its own for the destination's domains, one delivery at a time,
///   with `_destination_rate_delay` spacing deliveries at the rate that got through. Exim has
///   no delay between deliveries: a router and smtp transport of their own with
///   `max_parallel = 1`, few messages per connection and recipients per message, and a
///   retry rule that waits as long as the deferred mail takes to drain at that rate.
/// - `connection_limit`: too many parallel connections (or messages over one). Postfix: a
///   transport with a low `_destination_concurrency_limit` and a limit on the reuses of a
///   connection; Exim: a transport with a low `max_parallel` and `connection_max_messages`.
/// - `mailbox`, only when the replies say "too many recipients" (enhanced code 4.5.3); a
///   full mailbox is no configuration matter. Fewer recipients per message:
///   `_destination_recipient_limit`, Exim's `max_rcpt`.
///
/// None for the rest: reverse DNS, SPF, DKIM and DMARC are fixed in DNS (and checked by
/// `deferwatch check`), reputation and content with the receiver, a receiver that is down or
/// times out by waiting, TLS on one side or the other; greylisting clears on its own with
/// both MTAs' default retry times (Postfix retries after 5 minutes, Debian's Exim after 15,
/// both within what greylisters wait for), so a longer retry would only delay the mail; the
/// sending host's own causes (`local_*`) are not about a destination. Exim's global
/// `remote_max_parallel` is not used: it bounds the parallel deliveries of one message to all
/// destinations, not the connections to one.
///
/// Every name and value in the text comes from this type's own vocabulary, numbers, the
/// configured providers' domains, or a domain that passed `validDomain`: a log line is
/// hostile, and what it says never reaches a configuration file unchecked.
public struct ConfigFix: Sendable, Equatable, Codable {
    /// What the alert saw over the time it covers: the deliveries that got through to the
    /// destination, the deferrals for the cause, and over how long.
    public struct Observed: Sendable, Equatable, Codable {
        public var deliveries: Int
        public var deferrals: Int
        public var seconds: Int64
        /// Parallel connections to the destination when it refused more (nil: not known;
        /// neither MTA logs it).
        public var concurrency: Int?

        /// `seconds` is at least a minute (shorter spans say nothing of a rate) and at most
        /// ten years; negative counts are none.
        public init(deliveries: Int, deferrals: Int, seconds: Int64, concurrency: Int? = nil) {
            self.deliveries = max(0, deliveries)
            self.deferrals = max(0, deferrals)
            self.seconds = ConfigFix.clamp(seconds, 60, 10 * 366 * 86400)
            self.concurrency = concurrency.map { max(0, $0) }
        }

        /// What an open alert observed by log time `now`: its counts at its opening are the
        /// window's (`window` before `openedAt`), and it counts on from there; so it covers
        /// `now - openedAt + window`. Attempts that were not deferrals got through.
        public init(alert a: Alert, window: Int64, now: Int64) {
            let (since, o1) = now.subtractingReportingOverflow(a.openedAt)
            let (span, o2) = max(0, since).addingReportingOverflow(max(0, window))
            let micros = (o1 || o2) ? Int64.max : span
            let (delivered, o3) = a.attempts.subtractingReportingOverflow(a.deferrals)
            self.init(deliveries: o3 ? 0 : delivered, deferrals: a.deferrals, seconds: micros / 1_000_000)
        }

        /// Deliveries that got through per minute, rounded down (the per-minute figure of
        /// the text; the values are derived from `deliveries` and `seconds` themselves).
        public var perMinute: Int {
            let (n, o) = deliveries.multipliedReportingOverflow(by: 60)
            return o ? deliveries / Int(max(1, seconds / 60)) : n / Int(seconds)
        }

        /// The same in tenths, for the text ("2.6 a minute").
        var perMinuteText: String {
            let (n, o) = deliveries.multipliedReportingOverflow(by: 600)
            let tenths = o ? deliveries / Int(max(1, seconds / 600)) : n / Int(seconds)
            return tenths % 10 == 0 || tenths >= 100 ? "\(tenths / 10)" : "\(tenths / 10).\(tenths % 10)"
        }
    }

    /// The settings, in the terms of both MTAs (nil: not set by this fix).
    public struct Values: Sendable, Equatable, Codable {
        /// Parallel deliveries to a destination (Postfix `_destination_concurrency_limit`,
        /// Exim `max_parallel`).
        public var concurrency: Int?
        /// Seconds between deliveries to a destination (Postfix `_destination_rate_delay`).
        public var rateDelaySeconds: Int?
        /// Recipients per delivery (Postfix `_destination_recipient_limit`, Exim `max_rcpt`).
        public var recipientLimit: Int?
        /// Messages over one connection (Postfix `smtp_connection_reuse_count_limit`, Exim
        /// `connection_max_messages`).
        public var messagesPerConnection: Int?
        /// Minutes before a deferred message is tried again (Exim's retry rule).
        public var retryMinutes: Int?

        public init(concurrency: Int? = nil, rateDelaySeconds: Int? = nil, recipientLimit: Int? = nil,
                    messagesPerConnection: Int? = nil, retryMinutes: Int? = nil) {
            self.concurrency = concurrency
            self.rateDelaySeconds = rateDelaySeconds
            self.recipientLimit = recipientLimit
            self.messagesPerConnection = messagesPerConnection
            self.retryMinutes = retryMinutes
        }
    }

    /// One file to change: its usual path, where in it the text goes, and the text (each
    /// line valid in that file, comments included).
    public struct File: Sendable, Equatable, Codable {
        public var path: String
        public var place: String
        public var text: String
    }

    public var alert: Int
    public var mta: MTA
    public var cause: Cause
    /// The transport (Postfix master.cf service; Exim router and transport) the fix adds.
    public var transport: String
    /// The recipient domains sent through it.
    public var domains: [String]
    /// What the fix does and why these values, in one line.
    public var summary: String
    public var observed: Observed
    public var values: Values
    public var files: [File]
    /// What to run once the files are changed.
    public var commands: [String]

    // MARK: - Derivation

    /// Bounds of the derived values.
    public static let rateDelayRange = 1...300
    public static let recipientRange = 1...50
    public static let concurrencyRange = 1...5
    public static let messagesRange = 1...100
    public static let retryRange = 15...60
    /// Recipients per message for a receiver that said "too many recipients" (Postfix's
    /// default is 50, Exim's 100).
    public static let fewRecipients = 20
    /// Messages over one connection for a receiver that limits connections.
    public static let connectionMessages = 10
    /// Parallel connections for a receiver that limits them, when how many were open is not
    /// known (Postfix's default is 20).
    public static let fewConnections = 2

    /// The fix for an open alert, or nil when its cause has none (see the type's comment),
    /// its scope names no recipient domain to route (a relay host without a provider, every
    /// destination of a storm), or none of its domains is a valid one.
    /// `providerDomains`: the recipient domains of the alert's provider (rules.toml).
    public static func derive(for a: Alert, observed: Observed, providerDomains: [String]) -> ConfigFix? {
        guard let kind = Kind(a.cause, sample: a.sample) else { return nil }
        var domains: [String] = []
        let base: String
        switch a.key.scope {
        case .domain:
            guard let v = validDomain(a.domain ?? a.key.name) else { return nil }
            domains = [v]
            base = v
        case .provider, .relay:
            guard let p = a.provider, !providerDomains.isEmpty else { return nil }
            var seen = Set<String>()
            for d in providerDomains.prefix(64) {
                if let v = validDomain(d), seen.insert(v).inserted { domains.append(v) }
            }
            base = p
        case .all:
            return nil
        }
        guard !domains.isEmpty else { return nil }
        let name = transportName(base)
        let values = values(kind, mta: a.mta, observed: observed)
        var fix = ConfigFix(alert: a.id, mta: a.mta, cause: a.cause, transport: name, domains: domains,
                            summary: "", observed: observed, values: values, files: [], commands: [])
        fix.summary = fix.describe(kind, provider: a.key.scope == .domain ? nil : transportName(base).dropFirst(transportPrefix.count).description,
                                   host: a.key.host.flatMap(validDomain))
        switch a.mta {
        case .postfix: fix.writePostfix()
        case .exim: fix.writeExim()
        }
        return fix
    }

    /// The values of the fix for `cause` under `mta` (nil: the cause has no fix; `sample`:
    /// a reply of the alert, for `mailbox`). The formulas are `Kind.values`'s.
    public static func values(for cause: Cause, sample: String = "", mta: MTA, observed: Observed) -> Values? {
        Kind(cause, sample: sample).map { values($0, mta: mta, observed: observed) }
    }

    static func values(_ kind: Kind, mta: MTA, observed: Observed) -> Values {
        var v = kind.values(observed)
        // Each MTA's own values only: Postfix has no retry rule per destination and spaces
        // deliveries by the delay; Exim has no delay between deliveries.
        switch mta {
        case .postfix:
            v.retryMinutes = nil
            if v.rateDelaySeconds != nil { v.messagesPerConnection = nil }
        case .exim:
            v.rateDelaySeconds = nil
        }
        return v
    }

    /// The causes with a fix.
    enum Kind {
        case rate
        case connections
        case recipients

        init?(_ cause: Cause, sample: String) {
            switch cause {
            case .rateLimit: self = .rate
            case .connectionLimit: self = .connections
            case .mailbox where ConfigFix.saysTooManyRecipients(sample): self = .recipients
            default: return nil
            }
        }

        /// The formulas. With `d` deliveries that got through in `s` seconds:
        ///
        /// - rate: the delay between deliveries is the time between those that got
        ///   through, `ceil(s / d)` seconds within 1...300 (300 when none did). With the
        ///   delay at its lower bound (more than one a second got through), each delivery
        ///   may carry `floor(d * delay / s)` recipients (1...50), so the rate stays at or
        ///   below what got through (Postfix spaces recipients, not messages, when the
        ///   recipient limit is 1). One delivery at a time. Exim: messages per connection
        ///   are the deliveries a minute (1...100), and the first retries wait for the
        ///   deferred mail to drain at that rate, `ceil(deferrals * s / d / 60)` minutes
        ///   within 15...60 (60 when none got through).
        /// - connections: half the parallel connections that were refused (1...5), or 2
        ///   when not known, 10 messages per connection.
        /// - recipients: 20 recipients per message.
        func values(_ o: Observed) -> Values {
            switch self {
            case .rate:
                let s = Int(o.seconds)
                let d = o.deliveries
                let delay = d == 0 ? ConfigFix.rateDelayRange.upperBound : ConfigFix.clamp(ceilDiv(s, d), ConfigFix.rateDelayRange)
                let (n, over) = d.multipliedReportingOverflow(by: delay)
                let recipients = ConfigFix.clamp(over ? Int.max : n / s, ConfigFix.recipientRange)
                var retry = ConfigFix.retryRange.upperBound
                if d > 0 {
                    let (m, over2) = o.deferrals.multipliedReportingOverflow(by: s)
                    let (dm, over3) = d.multipliedReportingOverflow(by: 60)
                    retry = (over2 || over3) ? ConfigFix.retryRange.upperBound : ConfigFix.clamp(ceilDiv(m, dm), ConfigFix.retryRange)
                }
                return Values(concurrency: 1, rateDelaySeconds: delay, recipientLimit: recipients,
                              messagesPerConnection: ConfigFix.clamp(o.perMinute, ConfigFix.messagesRange), retryMinutes: retry)
            case .connections:
                let c = o.concurrency.map { ConfigFix.clamp($0 / 2, ConfigFix.concurrencyRange) } ?? ConfigFix.fewConnections
                return Values(concurrency: c, messagesPerConnection: ConfigFix.connectionMessages)
            case .recipients:
                return Values(recipientLimit: ConfigFix.fewRecipients)
            }
        }

        /// `ceil(a / b)` for a ≥ 0, b > 0, without the `a + b - 1` that can overflow.
        private func ceilDiv(_ a: Int, _ b: Int) -> Int { a / b + (a % b == 0 ? 0 : 1) }
    }

    /// The one-line summary: what the fix changes, with the observation behind the values.
    func describe(_ kind: Kind, provider: String?, host: String?) -> String {
        let to = provider.map { "\($0) (\(domains.count) domain\(domains.count == 1 ? "" : "s"))" } ?? domains[0]
        let on = host.map { " on \($0)" } ?? ""
        let mtaName = mta == .postfix ? "Postfix" : "Exim"
        let seen = "\(observed.deliveries) deliver\(observed.deliveries == 1 ? "y" : "ies") got through in \(Self.span(observed.seconds)) "
            + "(\(observed.perMinuteText) a minute) while \(observed.deferrals) were deferred"
        switch kind {
        case .rate:
            let v = values
            if mta == .postfix {
                return "\(mtaName)\(on) sends to \(to) through its own transport \(transport): one delivery at a time, "
                    + "\(v.rateDelaySeconds!) s apart, \(v.recipientLimit!) recipient\(v.recipientLimit! == 1 ? "" : "s") each; \(seen)."
            }
            return "\(mtaName)\(on) sends to \(to) through its own transport \(transport): one connection at a time, "
                + "\(v.messagesPerConnection!) message\(v.messagesPerConnection! == 1 ? "" : "s") on it, \(v.recipientLimit!) recipient\(v.recipientLimit! == 1 ? "" : "s") each, "
                + "retries after \(v.retryMinutes!) minutes; \(seen)."
        case .connections:
            return "\(mtaName)\(on) sends to \(to) through its own transport \(transport): at most \(values.concurrency!) "
                + "connection\(values.concurrency! == 1 ? "" : "s") at a time, \(values.messagesPerConnection!) messages on each."
        case .recipients:
            return "\(mtaName)\(on) sends to \(to) through its own transport \(transport): at most \(values.recipientLimit!) recipients a message."
        }
    }

    /// A span for people: "45 s", "16 min", "3 h 20 min", "2 d 4 h".
    static func span(_ s: Int64) -> String {
        if s < 120 { return "\(s) s" }
        if s < 7200 { return "\(s / 60) min" }
        if s < 2 * 86400 { return "\(s / 3600) h" + (s % 3600 / 60 == 0 ? "" : " \(s % 3600 / 60) min") }
        return "\(s / 86400) d" + (s % 86400 / 3600 == 0 ? "" : " \(s % 86400 / 3600) h")
    }

    static func clamp<T: Comparable>(_ v: T, _ lo: T, _ hi: T) -> T { min(max(v, lo), hi) }
    static func clamp(_ v: Int, _ r: ClosedRange<Int>) -> Int { min(max(v, r.lowerBound), r.upperBound) }
}

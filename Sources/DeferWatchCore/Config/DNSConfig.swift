import TOMLKit

/// How the identity checks ask DNS (`[dns]`).
public struct DNSConfig: Sendable, Equatable {
    /// IPv4 resolvers ("127.0.0.1" or "127.0.0.1:5353"), at most 3; empty: those of
    /// /etc/resolv.conf.
    public var servers: [DNSServer] = []
    /// Per try, and how many tries per server.
    public var timeout: Int64 = 2_000_000
    public var attempts = 2
    /// DNS blocklists for the sending IP, and domain blocklists for the sender domains.
    /// Empty by default: most lists refuse the public resolvers most hosts use.
    public var blocklists: [String] = []
    public var domainBlocklists: [String] = []

    public init() {}
}

public struct DNSServer: Sendable, Equatable {
    public var address: String
    public var port: Int

    public init(address: String, port: Int = 53) {
        self.address = address
        self.port = port
    }

    /// "192.0.2.1" or "192.0.2.1:5353".
    public init?(parsing s: String) {
        let parts = s.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count <= 2, let ip = IPAddress(String(parts[0])), ip.isIPv4 else { return nil }
        var port = 53
        if parts.count == 2 {
            guard let p = Int(parts[1]), p > 0, p < 65536 else { return nil }
            port = p
        }
        self.init(address: ip.description, port: port)
    }
}

/// The sending identity the checks look at (`[identity]`); what is not set here comes from
/// the command line or from what the logs show.
public struct IdentityConfig: Sendable, Equatable {
    /// The addresses the host sends from.
    public var addresses: [String] = []
    /// The name the MTA gives in HELO/EHLO.
    public var helo: String?
    /// Sender (envelope and header From) domains.
    public var domains: [String] = []
    /// DKIM selectors the host signs with, checked under each sender domain.
    public var dkimSelectors: [String] = []

    public init() {}
}

/// What the daemon checks when an alert opens (`[checks]`).
public struct ChecksConfig: Sendable, Equatable {
    /// Check the claim of reverse_dns, authentication and reputation alerts in DNS.
    public var enabled = true
    /// The most one alert's checks may take, every lookup of them together.
    public var timeout: Int64 = 10_000_000
    /// At least this long between the starts of two alerts' checks (the rate bound).
    public var interval: Int64 = 2_000_000
    /// Alerts waiting for their checks at most; past it the newest wait is dropped (and
    /// counted).
    public var queue = 64

    public init() {}
}

extension DeferWatchConfig {
    static func parseChecks(_ t: TOMLTable, _ source: TOMLSource, into c: inout DeferWatchConfig, _ problems: inout [ConfigProblem]) {
        var r = TOMLReader(source: source, table: t) { source.line(ofSection: "checks", key: $0) }
        if let v = r.bool("enabled") { c.checks.enabled = v }
        if let v = r.duration("timeout") {
            if v < 100_000 || v > 300_000_000 { r.problem("timeout", "timeout must be between 100ms and 5m") }
            c.checks.timeout = v
        }
        if let v = r.duration("interval") {
            if v < 0 || v > 3_600_000_000 { r.problem("interval", "interval must be between 0s and 1h") }
            c.checks.interval = v
        }
        if let v = r.int("queue") {
            if v < 1 || v > 10_000 { r.problem("queue", "queue must be between 1 and 10000") }
            c.checks.queue = v
        }
        r.rejectUnknownKeys(context: "[checks]")
        problems += r.problems
    }

    static func parseQueue(_ t: TOMLTable, _ source: TOMLSource, into c: inout DeferWatchConfig, _ problems: inout [ConfigProblem]) {
        var r = TOMLReader(source: source, table: t) { source.line(ofSection: "queue", key: $0) }
        let day = 24 * TrackerConfig.hour
        if let v = r.bool("enabled") { c.queue.enabled = v }
        if let v = r.duration("postfix_lifetime") {
            if v < TrackerConfig.hour || v > 100 * day { r.problem("postfix_lifetime", "postfix_lifetime must be between 1h and 100d") }
            c.queue.postfixLifetime = v
            c.queue.postfixLifetimeConfigured = true
        }
        if let v = r.duration("exim_lifetime") {
            if v < TrackerConfig.hour || v > 100 * day { r.problem("exim_lifetime", "exim_lifetime must be between 1h and 100d") }
            c.queue.eximLifetime = v
        }
        if let v = r.duration("at_risk_before") {
            if v < 0 || v > 100 * day { r.problem("at_risk_before", "at_risk_before must be between 0s and 100d") }
            c.queue.atRiskBefore = v
        }
        if let v = r.int("max_messages") {
            if v < 100 || v > 100_000_000 { r.problem("max_messages", "max_messages must be between 100 and 100000000") }
            c.queue.maxMessages = v
        }
        if let v = r.duration("forget_after") {
            if v < TrackerConfig.hour || v > 100 * day { r.problem("forget_after", "forget_after must be between 1h and 100d") }
            c.queue.forgetAfter = v
        }
        r.rejectUnknownKeys(context: "[queue]")
        problems += r.problems
    }

    static func parseDNS(_ t: TOMLTable, _ source: TOMLSource, into c: inout DeferWatchConfig, _ problems: inout [ConfigProblem]) {
        var r = TOMLReader(source: source, table: t) { source.line(ofSection: "dns", key: $0) }
        if let v = r.strings("servers") {
            if v.count > 3 { r.problem("servers", "servers: at most 3 resolvers") }
            c.dns.servers = []
            for s in v {
                if let server = DNSServer(parsing: s) { c.dns.servers.append(server) } else {
                    r.problem("servers", "servers: \"\(s)\" is not an IPv4 address with an optional port (\"127.0.0.1:5353\"); IPv6 resolvers are not supported yet")
                }
            }
        }
        if let v = r.duration("timeout") {
            if v < 100_000 || v > 30_000_000 { r.problem("timeout", "timeout must be between 100ms and 30s") }
            c.dns.timeout = v
        }
        if let v = r.int("attempts") {
            if v < 1 || v > 5 { r.problem("attempts", "attempts must be between 1 and 5") }
            c.dns.attempts = v
        }
        if let v = r.strings("blocklists") { c.dns.blocklists = v }
        if let v = r.strings("domain_blocklists") { c.dns.domainBlocklists = v }
        r.rejectUnknownKeys(context: "[dns]")
        problems += r.problems
    }

    static func parseIdentity(_ t: TOMLTable, _ source: TOMLSource, into c: inout DeferWatchConfig, _ problems: inout [ConfigProblem]) {
        var r = TOMLReader(source: source, table: t) { source.line(ofSection: "identity", key: $0) }
        if let v = r.strings("addresses") {
            for a in v where IPAddress(a) == nil { r.problem("addresses", "addresses: \"\(a)\" is not an IP address") }
            c.identity.addresses = v
        }
        if let v = r.string("helo") { c.identity.helo = v.isEmpty ? nil : v }
        if let v = r.strings("domains") { c.identity.domains = v }
        if let v = r.strings("dkim_selectors") { c.identity.dkimSelectors = v }
        r.rejectUnknownKeys(context: "[identity]")
        problems += r.problems
    }
}

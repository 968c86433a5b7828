/// One classification rule: matchers and the cause they decide. A rule matches when every
/// matcher it has matches; the first matching rule in order decides.
public struct Rule: Sendable, Equatable {
    public var id: String
    public var cause: Cause
    /// Applies only when the event's provider is this one.
    public var provider: String?
    /// SMTP reply codes, any of.
    public var codes: [Int]
    /// Enhanced status codes, any of: exact `4.7.28`, or a class prefix written `4.4.*`.
    public var dsn: [String]
    /// Substrings that must all occur (ASCII case-insensitive).
    public var contains: [String]
    /// Substrings of which one must occur.
    public var containsAny: [String]
    public var note: String
    /// Where the rule was defined (`rules.toml:42`), for `classify` and diagnostics.
    public var origin: String

    public init(id: String, cause: Cause, provider: String? = nil, codes: [Int] = [], dsn: [String] = [],
                contains: [String] = [], containsAny: [String] = [], note: String = "", origin: String = "") {
        self.id = id
        self.cause = cause
        self.provider = provider
        self.codes = codes
        self.dsn = dsn
        self.contains = contains
        self.containsAny = containsAny
        self.note = note
        self.origin = origin
    }
}

/// A receiving mail provider, recognised from relay host names and recipient domains.
public struct Provider: Sendable, Equatable {
    public var name: String
    public var title: String
    public var postmaster: String
    /// Relay host suffixes: the host equals one or ends with `.` + one.
    public var relays: [String]
    /// Recipient domains (exact).
    public var domains: [String]

    public init(name: String, title: String = "", postmaster: String = "", relays: [String] = [], domains: [String] = []) {
        self.name = name
        self.title = title
        self.postmaster = postmaster
        self.relays = relays
        self.domains = domains
    }
}

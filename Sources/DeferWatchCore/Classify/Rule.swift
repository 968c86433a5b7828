/// The kind of evidence a rule is. Rules are tried layer by layer, most specific first, so
/// a broad rule can never overrule a narrower one that also matches, whatever their order
/// in the file; within a layer the file's order decides.
public enum RuleLayer: String, Sendable, Codable, CaseIterable, Comparable {
    /// The sending MTA's own decisions (queueing by configuration, a local transport down).
    case local
    /// The exact replies and code families of one provider.
    case provider
    /// An enhanced status code that names a cause by itself (4.7.28, 4.7.25).
    case code
    /// Cue phrases (generic, in several languages), possibly narrowed by codes.
    case cue
    /// The reply code or the enhanced code's class only.
    case `class`
    /// Bare words that name no cause ("try again later", "temporary failure", a refused
    /// greeting without its reply): the last resort, after every code and class, so a
    /// 4.5.3 or a 4.2.x decides a "452 4.5.3 Try again". Only by `layer = "fallback"`.
    case fallback

    public static func < (a: RuleLayer, b: RuleLayer) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }

    public var confidence: Confidence {
        switch self {
        case .local, .provider, .code: .high
        case .cue: .medium
        case .class, .fallback: .low
        }
    }

    /// The layer of a rule that does not name one: local causes are `local`, a provider
    /// rule is `provider`, needles make a `cue`, exact enhanced codes alone a `code`, and
    /// reply codes or code classes alone a `class`.
    public static func implied(cause: Cause, provider: String?, codes: [Int], dsn: [String], needles: Int) -> RuleLayer {
        if cause.isLocal { return .local }
        if provider != nil { return .provider }
        if needles > 0 { return .cue }
        if !dsn.isEmpty && codes.isEmpty && !dsn.contains(where: { $0.hasSuffix("*") }) { return .code }
        return .class
    }
}

/// One classification rule: matchers and the cause they decide. A rule matches when every
/// matcher it has matches; of the matching rules, the one in the most specific layer
/// decides (`RuleLayer`), and within a layer the first in order.
public struct Rule: Sendable, Equatable {
    public var id: String
    public var cause: Cause
    public var layer: RuleLayer
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
    /// Whole words (`NeedleMatcher`) that must all occur.
    public var words: [String]
    /// Whole words of which one must occur; together with `containsAny` one list: one
    /// substring of it or one of these words.
    public var wordsAny: [String]
    public var note: String
    /// Whether the rule may decide a text that carries a peer's SMTP reply code. Local rules
    /// do not by default: a receiver that answers "451 4.3.0 queue file write error" has its
    /// own trouble, while the same words without a reply are this host's. (`peer_replies`)
    public var peerReplies: Bool
    /// Where the rule was defined (`rules.toml:42`), for `classify` and diagnostics.
    public var origin: String

    public init(id: String, cause: Cause, layer: RuleLayer? = nil, provider: String? = nil, codes: [Int] = [], dsn: [String] = [],
                contains: [String] = [], containsAny: [String] = [], words: [String] = [], wordsAny: [String] = [],
                note: String = "", origin: String = "", peerReplies: Bool? = nil) {
        self.id = id
        self.cause = cause
        self.layer = layer ?? RuleLayer.implied(cause: cause, provider: provider, codes: codes, dsn: dsn,
                                                needles: contains.count + containsAny.count + words.count + wordsAny.count)
        self.words = words
        self.wordsAny = wordsAny
        self.provider = provider
        self.codes = codes
        self.dsn = dsn
        self.contains = contains
        self.containsAny = containsAny
        self.note = note
        self.origin = origin
        self.peerReplies = peerReplies ?? (self.layer != .local)
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

/// Attempt counts by outcome.
public struct AttemptCounts: Sendable, Equatable {
    public var sent = 0
    public var deferred = 0
    public var bounced = 0
    public var expired = 0

    public init() {}

    public var total: Int { sent + deferred + bounced + expired }

    public mutating func add(_ s: DeliveryStatus) {
        switch s {
        case .sent: sent += 1
        case .deferred: deferred += 1
        case .bounced: bounced += 1
        case .expired: expired += 1
        }
    }

    public static func += (a: inout AttemptCounts, b: AttemptCounts) {
        a.sent += b.sent
        a.deferred += b.deferred
        a.bounced += b.bounced
        a.expired += b.expired
    }
}

/// Deferrals per cause, indexed by `Cause.allCases` order.
public struct CauseCounts: Sendable, Equatable {
    /// Per cause (`Cause.index`); empty until a count is set: most destinations of a large
    /// log never defer, and a table per destination was most of the report's memory.
    private var counts: [Int] = []
    public init() {}
    public subscript(_ c: Cause) -> Int {
        get { counts.isEmpty ? 0 : counts[c.index] }
        set {
            if counts.isEmpty {
                if newValue == 0 { return }
                counts = [Int](repeating: 0, count: Cause.allCases.count)
            }
            counts[c.index] = newValue
        }
    }
    /// Non-zero causes, most first.
    public var nonZero: [(Cause, Int)] {
        guard !counts.isEmpty else { return [] }
        return Cause.allCases.compactMap { c in counts[c.index] > 0 ? (c, counts[c.index]) : nil }
            .sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }
    }
    public var total: Int { counts.reduce(0, +) }

    public static func == (a: CauseCounts, b: CauseCounts) -> Bool {
        Cause.allCases.allSatisfy { a[$0] == b[$0] }
    }
}

/// One destination (recipient domain) in the report.
public struct DestinationSummary: Sendable, Equatable {
    public var domain: String
    public var provider: String?
    public var attempts = AttemptCounts()
    public var causes = CauseCounts()
    public var firstDeferral: Int64?
    public var lastDeferral: Int64?
    public var sample: String?
    public var sampleRelay: String?

    public init(domain: String, provider: String?) {
        self.domain = domain
        self.provider = provider
    }

    /// Share of attempts that were deferred.
    public var deferredShare: Double {
        attempts.total == 0 ? 0 : Double(attempts.deferred) / Double(attempts.total)
    }
}

/// A deferral text no rule explained, grouped by its shape (digits, addresses and bracketed
/// ids masked), with one real example.
public struct UnexplainedText: Sendable, Equatable {
    public var shape: String
    public var count: Int
    public var example: String

    public init(shape: String, count: Int, example: String) {
        self.shape = shape
        self.count = count
        self.example = example
    }
}

/// What `deferwatch analyze` prints.
public struct AnalysisReport: Sendable {
    public var inputs: [String] = []
    public var counters = LineCounters()
    public var messages = 0
    public var attempts = AttemptCounts()
    /// Deferrals per cause, all destinations.
    public var causes = CauseCounts()
    public var inheritedDeferrals = 0
    /// Deferrals the sending MTA decided by itself (local causes), per sending host: counted
    /// in `causes` and `attempts`, never against a destination or provider.
    public var localDeferrals: [String: CauseCounts] = [:]
    public var firstTime: Int64?
    public var lastTime: Int64?
    public var destinations: [DestinationSummary] = []
    public var providers: [DestinationSummary] = []
    /// Per sender domain of the messages (qmgr `from=`, Exim `<=`), most deferred first:
    /// `domain` is the sender domain, `provider` unused; deferrals, bounces and expiries
    /// only.
    public var senders: [DestinationSummary] = []
    /// Sender domains not counted for the table's bound (their attempts are in the totals).
    public var sendersOverflow = 0
    /// Destinations dropped from the table to keep memory bounded (their counts remain in the totals).
    public var evictedDestinations = 0
    public var unexplained: [UnexplainedText] = []
    public var unexplainedTotal = 0
    public var unrecognisedSamples: [String] = []
    /// Per-input problems (unreadable file, truncated archive), already reported on stderr.
    public var inputErrors: [String] = []

    public init() {}
}

/// When a destination's deferrals of one cause become an alert, and when the alert
/// escalates, reminds and resolves. All durations are in microseconds of log time.
public struct CauseThresholds: Sendable, Equatable {
    /// Deferrals of the cause within the window.
    public var minDeferrals: Int
    /// Distinct messages among them (one message retried ten times is one).
    public var minMessages: Int
    /// Share of the destination's attempts in the window that were deferred for the cause.
    public var minShare: Double
    /// An alert still active this long after it opened escalates.
    public var escalateAfter: Int64
    /// No deferral of the cause for this long, and mail delivered since: resolved.
    public var resolveAfter: Int64
    /// Whether the cause alerts at all.
    public var enabled: Bool

    public init(minDeferrals: Int, minMessages: Int, minShare: Double, escalateAfter: Int64, resolveAfter: Int64, enabled: Bool = true) {
        self.minDeferrals = minDeferrals
        self.minMessages = minMessages
        self.minShare = minShare
        self.escalateAfter = escalateAfter
        self.resolveAfter = resolveAfter
        self.enabled = enabled
    }
}

public struct TrackerConfig: Sendable, Equatable {
    public static let second: Int64 = 1_000_000
    public static let minute: Int64 = 60 * second
    public static let hour: Int64 = 60 * minute

    /// Length of the sliding window and of one bucket in it.
    public var window: Int64 = 15 * minute
    public var bucket: Int64 = minute
    /// How often an open alert that is still active is repeated.
    public var remindEvery: Int64 = hour
    /// Log time jumps ahead by more than this only when a second line agrees (one stray
    /// future-dated line cannot move it); in `run`, nothing past the wall clock plus this
    /// moves it at all.
    public var clockLeap: Int64 = hour
    /// No deferral for this many resolve periods: resolved even if no mail was delivered
    /// (the destination is no longer tried).
    public var staleFactor: Int64 = 4
    /// Most destination keys tracked at once (least recently used idle keys are dropped).
    public var maxKeys: Int = 50_000
    /// Most messages remembered for "distinct messages" and greylisting repeats.
    public var maxMessages: Int = 200_000
    /// Most alerts open at once. A storm past it (thousands of destinations failing for
    /// one cause, a local network fault) becomes one alert of scope `all` per cause, which
    /// takes over that cause's open alerts and counts the destinations it holds.
    public var maxOpenAlerts: Int = 1000
    /// A greylisting deferral counts towards an alert only from this attempt of the same
    /// message on: greylisting that clears on retry never alerts.
    public var greylistingRepeats: Int = 3
    /// Recurrence: episodes of the same destination and cause within this period are counted.
    public var recurrencePeriod: Int64 = 24 * hour

    public var defaults = CauseThresholds(minDeferrals: 4, minMessages: 2, minShare: 0.2,
                                          escalateAfter: hour, resolveAfter: 15 * minute)
    public var perCause: [Cause: CauseThresholds] = TrackerConfig.builtinPerCause

    /// Causes whose defaults differ, and why (Config/deferwatch.toml says the same).
    public static let builtinPerCause: [Cause: CauseThresholds] = [
        // One full mailbox is one user's problem: alert only when many recipients of one
        // destination are affected at once.
        .mailbox: CauseThresholds(minDeferrals: 6, minMessages: 4, minShare: 0.3, escalateAfter: 2 * hour, resolveAfter: 30 * minute),
        // Greylisting repeats only (see greylistingRepeats); a higher bar again.
        .greylisting: CauseThresholds(minDeferrals: 4, minMessages: 2, minShare: 0.2, escalateAfter: 2 * hour, resolveAfter: 30 * minute),
        // Unknown causes: alert, but want more evidence.
        .other: CauseThresholds(minDeferrals: 10, minMessages: 5, minShare: 0.3, escalateAfter: 2 * hour, resolveAfter: 15 * minute),
    ]

    public init() {}

    public func thresholds(_ c: Cause) -> CauseThresholds { perCause[c] ?? defaults }

    public var bucketCount: Int { Int(max(1, window / max(1, bucket))) }
}

/// The deferred queue as the logs show it (`[queue]`): how long the MTAs keep a message
/// before they give up, when mail counts as at risk, and the bound on what is remembered.
/// Durations are in microseconds of log time, as the tracker's.
public struct QueueConfig: Sendable, Equatable {
    /// Whether the engine follows deferred messages at all.
    public var enabled = true
    /// Postfix's `maximal_queue_lifetime` (its default, 5 days; the daemon reads the real
    /// value with `postconf -h` when the configuration does not say).
    public var postfixLifetime: Int64 = 5 * 24 * TrackerConfig.hour
    /// When Exim gives up: Debian's default retry rule (`F,2h,15m; G,16h,1h,1.5; F,4d,6h`)
    /// bounces after 4 days.
    public var eximLifetime: Int64 = 4 * 24 * TrackerConfig.hour
    /// An alert escalates to critical when messages of its destinations are this close to
    /// expiring.
    public var atRiskBefore: Int64 = 24 * TrackerConfig.hour
    /// Most messages with a deferred recipient followed at once; past it, new ones are not
    /// followed (counted as dropped).
    public var maxMessages = 1_000_000
    /// A message with no attempt logged for this long is forgotten (its `removed` line was
    /// lost, or the log stopped speaking of it): every MTA retries far more often.
    public var forgetAfter: Int64 = 24 * TrackerConfig.hour

    /// Whether the lifetime was set by the configuration (else the daemon may ask postconf).
    public var postfixLifetimeConfigured = false

    public init() {}

    public func lifetime(_ mta: MTA) -> Int64 { mta == .exim ? eximLifetime : postfixLifetime }
}

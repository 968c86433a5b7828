extension DeferralTracker {
    /// A storm wider than the tracked keys: windows are dropped before they fill, so no
    /// destination crosses its thresholds. While windows are being dropped, `maxOpenAlerts`
    /// distinct destinations deferring for one cause within the window, that cause being its
    /// usual share of all the host's attempts, are the storm's wider alert. Without key
    /// pressure this never runs, so it changes nothing else.
    mutating func stormUnderPressure(_ e: DeliveryEvent, key: DestinationKey?, cause: Cause, at t: Int64) -> [AlertTransition]? {
        if windows.evictions != lastEvictions {
            lastEvictions = windows.evictions
            lastEvictionAt = t
        }
        guard let key, lastEvictionAt != Int64.min, t &- lastEvictionAt <= config.window,
              config.thresholds(cause).enabled else { return nil }
        let limit = max(1, config.maxOpenAlerts)
        // In place (no copy of the set per line); bounded: past twice the limit, the
        // entries older than the window go, and if that is not enough, all of them.
        stormSeen[cause, default: [:]][key.aggregate.hashValue] = t
        if stormSeen[cause]!.count >= 2 * limit {
            stormSeen[cause] = stormSeen[cause]!.filter { t &- $0.value <= config.window }
            if stormSeen[cause]!.count >= 2 * limit { stormSeen[cause] = [:] }
        }
        // As for any alert: the cause is a share of all attempts (a sender to 30,000
        // domains sees a thousand full mailboxes in a quarter of an hour; that is no storm).
        guard stormSeen[cause]!.count >= limit,
              windows.everything.totals(cause: cause, now: now / config.bucket).share >= config.thresholds(cause).minShare
        else { return nil }
        let seen = stormSeen[cause]!.filter { t &- $0.value <= config.window }
        guard seen.count >= limit else {
            stormSeen[cause] = seen
            return nil
        }
        stormSeen.removeValue(forKey: cause)
        return book.openStorm(e, cause: cause, at: t, seen: Set(seen.keys))
    }
}

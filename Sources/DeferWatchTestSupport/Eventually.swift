import Foundation

/// Polls `condition` every `every` microseconds until it holds or `timeout` seconds have
/// passed; true if it held. For process tests, which wait on another process: the bound is
/// generous because a loaded CI machine is slow, and a met condition returns at once.
public func eventually(timeout: Double = 30, every: UInt32 = 20_000, _ condition: () -> Bool) -> Bool {
    let end = Date().addingTimeInterval(timeout)
    while true {
        if condition() { return true }
        if Date() >= end { return false }
        usleep(every)
    }
}

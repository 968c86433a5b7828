import Foundation

/// Runs `body` on a thread of its own and waits for it without holding a thread of Swift
/// Testing's pool. Tests run on the cooperative pool, as many threads as cores (two here):
/// a test that blocks for half a minute on a child process or a socket would keep one of
/// them from every other test. Expectations belong after the call, on the test's own task
/// (an issue recorded on another thread has no test to belong to): `body` returns what
/// they look at.
public func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { c in
        let t = Thread { c.resume(with: Result { try body() }) }
        t.stackSize = 8 << 20
        t.start()
    }
}

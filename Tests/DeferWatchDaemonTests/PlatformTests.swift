import DeferWatchDaemon
import Foundation
import Testing

/// What the daemon uses instead of Foundation's Process, percent-encoding, Thread and
/// NSCondition (none of them is in FoundationEssentials).
@Suite struct PlatformTests {
    @Test func percentDecoding() {
        #expect(PercentEncoding.decode("/v1/destination/gmail.com") == "/v1/destination/gmail.com")
        #expect(PercentEncoding.decode("m%C3%BCller.de") == "müller.de")
        #expect(PercentEncoding.decode("rate%5flimit") == "rate_limit")
        #expect(PercentEncoding.decode("a+b", plusIsSpace: true) == "a b")
        #expect(PercentEncoding.decode("a+b") == "a+b")
        #expect(PercentEncoding.decode("%2") == nil)
        #expect(PercentEncoding.decode("%zz") == nil)
        #expect(PercentEncoding.decode("%FF") == nil) // not UTF-8
        #expect(PercentEncoding.decode("") == "")
    }

    @Test func percentEncodingIsASCIIAndDecodesBack() {
        let unreserved = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._%".utf8)
        for s in ["gmail.com", "rate_limit", "a b+c&d=e/f?#", "müller.de", "%", ""] {
            let e = PercentEncoding.encode(s)
            #expect(e.utf8.allSatisfy(unreserved.contains))
            #expect(PercentEncoding.decode(e, plusIsSpace: true) == s)
        }
        #expect(PercentEncoding.encode("a b") == "a%20b")
        #expect(PercentEncoding.encode("x.y-z_1") == "x.y-z_1")
    }

    @Test func aProgramsOutputErrorsAndStatus() throws {
        let r = try ProgramRun.run("/bin/sh", ["-c", "echo out; echo err >&2; exit 3"])
        #expect(r.status == 3)
        #expect(String(decoding: r.output, as: UTF8.self) == "out\n")
        #expect(String(decoding: r.errors, as: UTF8.self) == "err\n")
    }

    @Test func bothPipesAreReadPastTheirBuffers() throws {
        // A megabyte on standard output, then one on standard error: a reader waiting for
        // the end of the first pipe alone would leave the child blocked on the second.
        let r = try ProgramRun.run("/bin/sh", ["-c", "head -c 1048576 /dev/zero; head -c 1048576 /dev/zero >&2"])
        #expect(r.status == 0)
        #expect(r.output.count == 1 << 20)
        #expect(r.errors.count == 1 << 20)
    }

    @Test func aSignalIsSaidAsOneHundredTwentyEightPlusIt() throws {
        // The child starts with SIGTERM at its default whatever the test process does.
        let r = try ProgramRun.run("/bin/sh", ["-c", "kill -TERM $$; sleep 5"])
        #expect(r.status == 128 + 15)
    }

    @Test func aMissingProgramThrows() {
        #expect(throws: ProgramRun.Failure.self) { try ProgramRun.run("/nonexistent/deferwatch-test", []) }
    }

    @Test func threadsShareAConditionLock() {
        final class Box: @unchecked Sendable {
            let lock = ConditionLock()
            var count = 0
            var done = 0
        }
        let box = Box()
        for _ in 0..<4 {
            startThread(name: "deferwatch-test", stackSize: 256 << 10) {
                for _ in 0..<10_000 { box.lock.withLock { box.count += 1 } }
                box.lock.withLock { box.done += 1; box.lock.broadcast() }
            }
        }
        let deadline = Date(timeIntervalSinceNow: 20)
        box.lock.lock()
        while box.done < 4 && box.lock.wait(until: deadline) {}
        let (count, done) = (box.count, box.done)
        box.lock.unlock()
        #expect(done == 4)
        #expect(count == 40_000)
    }

    @Test func aTimedWaitEndsAtItsDeadline() {
        let lock = ConditionLock()
        let start = Date()
        lock.lock()
        let signalled = lock.wait(until: Date(timeIntervalSinceNow: 0.2))
        lock.unlock()
        #expect(!signalled)
        #expect(Date().timeIntervalSince(start) >= 0.19)
    }
}

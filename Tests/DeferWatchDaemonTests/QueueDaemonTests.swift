import DeferWatchCore
import DeferWatchDaemon
import DeferWatchTestSupport
import Foundation
import Testing

/// The daemon's deferred queue: in the status, on /v1/queue and /metrics, kept across a
/// kill -9 by the checkpoint, and compared with the MTA's own queue listing.
@Suite struct QueueDaemonTests {
    typealias World = InProcessDaemon.World

    @Test func theQueueIsShownAndSurvivesARestart() throws {
        let w = try World()
        let first = try InProcessDaemon(w)
        // Twelve messages deferred by Gmail; three of them delivered later.
        w.append((0..<12).map { w.line($0, sent: false) })
        w.append((0..<3).map { w.line($0, sent: true, offset: 30) })
        first.run(seconds: 1.5)
        let q = try #require(first.status?.queue)
        #expect(q.messages == 9)
        #expect(q.providers.first { $0.name == "google" }?.messages == 9)
        #expect(first.status?.text.contains("Queue:    9 messages waiting on a deferred recipient") == true, "\(first.status?.text ?? "")")
        let router = StatusRouter(board: first.runner.board, config: StatusConfig())
        let r = router.route(method: "GET", uri: "/v1/queue?destination=gmail.com&limit=5")
        #expect(r.status == 200)
        let doc = try JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any]
        #expect(doc?["messages"] as? Int == 9)
        #expect((doc?["list"] as? [[String: Any]])?.count == 9)
        #expect((doc?["list"] as? [[String: Any]])?.first?["queue_id"] as? String == "B000000003")
        #expect(router.route(method: "GET", uri: "/v1/queue?ids=2").status == 400)
        #expect(router.route(method: "GET", uri: "/v1/queue?colour=red").status == 400)
        let metrics = String(decoding: router.route(method: "GET", uri: "/metrics").body, as: UTF8.self)
        #expect(metrics.contains("deferwatch_queue_messages 9"), "\(metrics)")
        #expect(metrics.contains("deferwatch_queue_provider_messages{provider=\"google\",cause=\"rate_limit\"} 9"))
        #expect(metrics.contains("deferwatch_queue_domain_messages{domain=\"gmail.com\",cause=\"rate_limit\"} 9"))
        first.run(seconds: 0.5) // a checkpoint
        first.kill()

        // After the restart, before any new line: still 9 stuck; then two more delivered.
        let second = try InProcessDaemon(w)
        second.run(seconds: 1.5)
        #expect(second.status?.queue?.messages == 9, "the restart forgot the queue")
        w.append((3..<5).map { w.line($0, sent: true, offset: 60) })
        second.run(seconds: 1.5)
        #expect(second.status?.queue?.messages == 7)
        second.stop()
    }

    /// The queue lives in a file of its own beside the checkpoint, one at a time; a damaged
    /// one costs the queue only: the alerts and positions of the checkpoint are kept.
    @Test func aDamagedQueueFileCostsTheQueueOnly() throws {
        let w = try World()
        let first = try InProcessDaemon(w)
        w.append((0..<12).map { w.line($0, sent: false) })
        first.run(seconds: 1.5)
        #expect(first.status?.queue?.messages == 12)
        w.append((0..<2).map { w.line($0, sent: true, offset: 30) })
        first.run(seconds: 1.5)
        #expect(first.status?.queue?.messages == 10)
        first.kill()
        let sides = w.store.sideNames
        #expect(sides.count == 1, "\(sides)")
        let name = try #require(sides.first)
        #expect(name.hasPrefix("queue.") && name.hasSuffix(".bin"))
        var bytes = try #require(try w.store.readSide(name))
        bytes[bytes.count / 2] ^= 0x01
        w.store.plantSide(name, bytes)

        let second = try InProcessDaemon(w)
        second.run(seconds: 1.5)
        #expect(second.status?.queue?.messages == 0)
        #expect((second.status?.alerts.count ?? 0) >= 1, "the alerts went with the queue")
        let warning = second.status?.state.warning ?? ""
        #expect(warning.contains("the saved deferred queue") && warning.contains("checksum"), "\(warning)")
        // The next deferral is queued again, and the next checkpoint writes a sound file.
        w.append([w.line(20, sent: false, offset: 60)])
        second.run(seconds: 1.5)
        #expect(second.status?.queue?.messages == 1)
        second.kill()
        let third = try InProcessDaemon(w)
        third.run(seconds: 1.5)
        #expect(third.status?.queue?.messages == 1)
        #expect(w.store.sideNames.count == 1, "\(w.store.sideNames)")
        third.stop()
    }

    /// A hostile queue in the state file is refused with the rest of the state, and the
    /// daemon starts clean.
    @Test func aHostileSavedQueueIsRefused() throws {
        func snapshot(_ json: String) throws -> QueueBook.Snapshot { try JSONDecoder().decode(QueueBook.Snapshot.self, from: Data(json.utf8)) }
        let hostile = try snapshot("""
        {"names": [""], "queueIDs": ["A1"], "hosts": [7], "mtas": ["postfix"], "arrivals": [-5], "lastAttempts": [0, 1],
         "atRiskCounted": [false], "recipientMessages": [3], "recipientKeys": [1], "recipientNames": [0, 0, 0],
         "causes": ["other"], "recipientAttempts": [0], "dropped": -1, "forgotten": 0, "now": 0}
        """)
        #expect(hostile.problems.count >= 4, "\(hostile.problems)")
        var b = QueueBook()
        b.restore(hostile)
        #expect(b.count == 0)
        let s = try snapshot("""
        {"names": [""], "queueIDs": [], "hosts": [], "mtas": [], "arrivals": [], "lastAttempts": [], "atRiskCounted": [],
         "recipientMessages": [], "recipientKeys": [], "recipientNames": [], "causes": [], "recipientAttempts": [],
         "dropped": 0, "forgotten": 0, "now": 0}
        """)
        #expect(s.problems.isEmpty)
    }

    /// The MTAs' own listings as `status queue` reads them.
    @Test func theMTAsListingsAreRead() {
        let pq = """
        {"queue_name": "deferred", "queue_id": "4BcD1x2yZ", "arrival_time": 1764590000, "message_size": 900, "forced_expire": false, "sender": "a@example.org", "recipients": [{"address": "u@example.net", "delay_reason": "host mx.example.net[192.0.2.1] said: 421 try later"}]}
        {"queue_name": "active", "queue_id": "5CdE2y3zA", "arrival_time": 1764590001, "message_size": 900, "forced_expire": false, "sender": "a@example.org", "recipients": [{"address": "v@example.net"}]}
        {"queue_name": "active", "queue_id": "6DeF3z4aB", "arrival_time": 1764590002, "message_size": 900, "forced_expire": false, "sender": "a@example.org", "recipients": [{"address": "w@example.net", "delay_reason": "connect to mx.example.net: Connection refused"}]}
        not json
        """
        #expect(QueueReconciler.postqueueIDs(pq) == ["4BcD1x2yZ", "6DeF3z4aB"])
        let bp = """
         25m  2.9K 1qZtYb-000B8l-Eq <sender@example.com>
                  recipient@example.net

          4h  1.1K 1qZtYc-000B8l-Fr <> *** frozen ***
                  postmaster@example.org

        """
        #expect(QueueReconciler.eximIDs(bp) == ["1qZtYb-000B8l-Eq", "1qZtYc-000B8l-Fr"])
    }
}

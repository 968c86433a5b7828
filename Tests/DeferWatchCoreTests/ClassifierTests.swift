import DeferWatchCore
import DeferWatchTestSupport
import Testing

@Suite struct ClassifierTests {
    @Test func needleMatcherFindsOverlappingNeedlesCaseInsensitively() {
        let m = NeedleMatcher(needles: ["rate limit", "limit", "LIMITED", "he", "she", "hers"])
        var found: [Bool] = []
        var text = "Your IP has been RATE LIMITED; ushers"
        text.withUTF8 { m.scan($0, into: &found) }
        #expect(found == [true, true, true, true, true, true])
        found = []
        var other = "nothing to see"
        other.withUTF8 { m.scan($0, into: &found) }
        #expect(found == [false, false, false, false, false, false])
    }

    /// Long texts are scanned as interleaved pieces: every needle is still found, wherever
    /// it sits (across a cut too), and none that is absent, against a plain search.
    @Test func interleavedScanFindsWhatAPlainSearchFinds() {
        var rng = SeededRandom.fromEnvironment()
        let alphabet = Array("abcde 4.7-".utf8)
        func word(_ n: Int) -> [UInt8] { (0..<n).map { _ in alphabet.randomElement(using: &rng)! } }
        for round in 0..<300 {
            let needles = (0..<Int.random(in: 1...12, using: &rng)).map { _ in String(decoding: word(Int.random(in: 1...(round % 3 == 0 ? 40 : 6), using: &rng)), as: UTF8.self) }
            let m = NeedleMatcher(needles: needles)
            var text = word(Int.random(in: 0...1500, using: &rng))
            for _ in 0..<Int.random(in: 0...4, using: &rng) where !text.isEmpty {
                let n = Array(needles.randomElement(using: &rng)!.utf8)
                text.insert(contentsOf: n, at: Int.random(in: 0...text.count, using: &rng))
            }
            var found: [Bool] = []
            text.withUnsafeBufferPointer { m.scan($0, into: &found) }
            let expected = needles.map { n in
                let nb = Array(n.utf8)
                return text.count >= nb.count && (0...(text.count - nb.count)).contains { text[$0..<($0 + nb.count)].elementsEqual(nb) }
            }
            #expect(found == expected, "round \(round): text of \(text.count) bytes")
        }
    }

    /// Whole-word needles: found only between non-word bytes, at any place in the text and
    /// in either scan (short texts, and long ones cut into interleaved pieces).
    @Test func wholeWordNeedlesNeedWordBoundaries() {
        let m = NeedleMatcher(needles: ["tls", "tls", "505", "_505"], wordEdges: [3, 0, 3, 0])
        func found(_ t: String) -> [Bool] {
            var found: [Bool] = []
            var copy = t
            copy.withUTF8 { m.scan($0, into: &found) }
            return found
        }
        #expect(found("TLS handshake failed") == [true, true, false, false])
        #expect(found("SSL/TLS") == [true, true, false, false])
        #expect(found("Cannot start TLS.") == [true, true, false, false])
        #expect(found("454 STARTTLS not available") == [false, true, false, false])
        #expect(found("TLSA lookup error") == [false, true, false, false])
        #expect(found("Service refuse. OFR005_505 [505]") == [false, false, true, true])
        #expect(found("LPN007_505") == [false, false, false, true])
        #expect(found("code 1505") == [false, false, false, false])
        #expect(found("smtp_tls_security_level = encrypt") == [false, true, false, false])
        let pad = String(repeating: "x", count: 300)
        #expect(found(pad + " tls " + pad) == [true, true, false, false])
        #expect(found(pad + "starttls" + pad) == [false, true, false, false])
        #expect(found("tls " + pad + pad) == [true, true, false, false])
        #expect(found(pad + pad + " tls") == [true, true, false, false])
    }

    @Test func wordRulesLoadFromTOML() throws {
        let user = """
        [[rule]]
        id = "my-tls"
        cause = "tls"
        words_any = ["tls"]
        """
        let set = try RuleSet.load(files: [("user.toml", user)])
        #expect(set.rules.first { $0.id == "my-tls" }?.layer == .cue)
        let r = set.classify("451 4.7.0 Sorry, STARTTLS is now off", code: 451, dsn: "4.7.0")
        #expect(r.1.map { set.rules[$0].id } != "my-tls")
        // "tls*": a word that starts with tls.
        let prefix = try RuleSet.load(files: [("user.toml", "[[rule]]\nid = \"my-tlsv\"\ncause = \"tls\"\nlayer = \"local\"\nwords_any = [\"tls*\"]\n")])
        #expect(prefix.classify("SSL routines: TLSv1 alert protocol version").1.map { prefix.rules[$0].id } == "my-tlsv")
        #expect(prefix.classify("451 STARTTLSv1 alert").1.map { prefix.rules[$0].id } != "my-tlsv")
    }

    /// Remembered relay names are the lower-cased bytes and the relay's provider, also when
    /// names collide in the table (a one-slot table collides on every other name).
    @Test func relayNamesAreTheNamesAndProvidersOfALookup() {
        let rules = RuleSet(rules: [], providers: [Provider(name: "google", relays: ["google.com"], domains: [])])
        for slots in [1, 4096] {
            var names = RelayNames(rules: rules, slots: slots)
            for host in ["ALT1.aspmx.l.Google.com", "mx.example.org", "alt1.aspmx.l.google.com", "MX.example.org", "", "google.com"] {
                for _ in 0..<2 {
                    var bytes = Array(host.utf8)
                    let got = bytes.withUnsafeMutableBufferPointer { names.name(UnsafeBufferPointer($0)) }
                    #expect(got.name == host.lowercased())
                    #expect(got.provider == rules.providerIndex(relay: host.lowercased(), domain: nil).map { Int32($0) } ?? -1)
                }
            }
        }
    }

    @Test func firstMatchingRuleDecidesAndAllMatchersMustHold() {
        let rules = RuleSet(rules: [
            Rule(id: "google-auth", cause: .authentication, provider: "google", contains: ["rate limited", "unauthenticated"]),
            Rule(id: "rate", cause: .rateLimit, containsAny: ["rate limited", "too many messages"]),
            Rule(id: "class", cause: .mailbox, dsn: ["4.2.*"]),
            Rule(id: "code", cause: .serviceUnavailable, codes: [421], contains: ["try again"]),
        ], providers: [Provider(name: "google", relays: ["google.com"], domains: ["gmail.com"])])
        let g = rules.providerIndex(relay: "gmail-smtp-in.l.google.com", domain: "example-workspace.com")
        #expect(g == 0)
        #expect(rules.providerIndex(relay: nil, domain: "gmail.com") == 0)
        #expect(rules.providerIndex(relay: "notgoogle.com", domain: "example.com") == nil)
        #expect(rules.classify("421 rate limited: unauthenticated", provider: g).0 == .authentication)
        #expect(rules.classify("421 rate limited: unauthenticated", provider: nil).0 == .rateLimit)
        #expect(rules.classify("452 mailbox full", dsn: "4.2.2").0 == .mailbox)
        #expect(rules.classify("452 mailbox full", dsn: "4.3.2").0 == .other)
        #expect(rules.classify("421 Try again later", code: 421).0 == .serviceUnavailable)
        #expect(rules.classify("450 Try again later", code: 450).1 == nil)
    }

    /// The stage a failure happened at is not evidence of its cause: Postfix's "(in reply to
    /// STARTTLS command)" and Exim's "after STARTTLS:" name the command the reply answered.
    /// A needle such as "starttls" must see only the reply and the rest of the text.
    @Test func stageMarkersAreNotMatched() {
        let rules = RuleSet(rules: [
            Rule(id: "tls", cause: .tls, containsAny: ["starttls", "tls"]),
            Rule(id: "rcpt", cause: .mailbox, contains: ["rcpt to"]),
            Rule(id: "busy", cause: .serviceUnavailable, contains: ["temp problem"]),
        ], providers: [])
        let postfix = "host mx.example[192.0.2.1] said: 450 4.3.0 temp problem (in reply to STARTTLS command)"
        #expect(rules.classify(postfix, code: 450, dsn: "4.3.0").0 == .serviceUnavailable)
        let exim = "SMTP error from remote mail server after STARTTLS: 450 temp problem"
        #expect(rules.classify(exim, code: 450).0 == .serviceUnavailable)
        let eximRcpt = "H=mx.example [192.0.2.1]: SMTP error from remote mail server after RCPT TO:<tls@example.org>: 450 temp problem"
        #expect(rules.classify(eximRcpt, code: 450).0 == .serviceUnavailable)
        #expect(rules.classify("SMTP timeout after STARTTLS", code: nil).0 == .other)
        // The reply itself still counts, also when it names the command.
        #expect(rules.classify("host mx.example[192.0.2.1] said: 454 4.7.0 STARTTLS not available (in reply to STARTTLS command)", code: 454).0 == .tls)
        #expect(rules.classify("454 4.5.0 no commands allowed to pipeline after STARTTLS", code: 454).0 == .tls)
        // Each marker is reported, as `classify --explain` shows it.
        var t = postfix
        let spans = t.withUTF8 { StageMarkers.find(in: $0) }
        #expect(spans.ranges.map { String(postfix.utf8.dropFirst($0.lowerBound).prefix($0.count))! } == ["(in reply to STARTTLS command)"])
        var e = eximRcpt
        let eximSpans = e.withUTF8 { StageMarkers.find(in: $0) }
        #expect(eximSpans.ranges.map { String(eximRcpt.utf8.dropFirst($0.lowerBound).prefix($0.count))! } == ["after RCPT TO:<tls@example.org>:"])
    }

    /// Bare words that name no cause are the last resort: an enhanced code's class decides
    /// before them ("452 4.5.3 Try again" is too many recipients, not an outage), while
    /// words that name a cause still decide before the class.
    @Test func fallbackWordsComeAfterCodeClasses() {
        let rules = RuleSet(rules: [
            Rule(id: "greylisted", cause: .greylisting, contains: ["greylisted"]),
            Rule(id: "too-many-rcpts", cause: .mailbox, layer: .class, dsn: ["4.5.3"]),
            Rule(id: "try-again", cause: .serviceUnavailable, layer: .fallback, containsAny: ["try again"]),
        ], providers: [])
        #expect(rules.classify("452 4.5.3 Try again", code: 452, dsn: "4.5.3").1.map { rules.rules[$0].id } == "too-many-rcpts")
        #expect(rules.classify("451 4.5.3 Greylisted, try again", code: 451, dsn: "4.5.3").0 == .greylisting)
        #expect(rules.classify("421 Try again", code: 421).0 == .serviceUnavailable)
        // The built-in rules: the Exim test suite's reply to a recipient over the limit.
        let builtin = RuleSet.builtin()
        let (cause, rule) = builtin.classify("SMTP error from remote mail server after RCPT TO:<D@test.ex>: 452 4.5.3 Try again", code: 452, dsn: "4.5.3")
        #expect(cause == .mailbox)
        #expect(rule.map { builtin.rules[$0].id } == "dsn-too-many-recipients")
        // Postfix's refused greeting: the reply's words decide, the bare refusal is the fallback.
        #expect(builtin.classify("host mx.example[192.0.2.1] refused to talk to me: 421 4.7.0 Too many concurrent SMTP connections from this IP address", code: 421, dsn: "4.7.0").0 == .connectionLimit)
        #expect(builtin.classify("host %s refused to talk to me: %s").0 == .serviceUnavailable)
    }

    /// Within a layer the rules of the event's provider come first: a rule for any provider
    /// earlier in the file does not shadow them, and it still decides for other providers.
    @Test func providerRulesComeFirstWithinTheirLayer() {
        let rules = RuleSet(rules: [
            Rule(id: "stock-unavailable", cause: .serviceUnavailable, layer: .provider, containsAny: ["service is currently unavailable"]),
            Rule(id: "yandex-suspicious", cause: .reputation, provider: "yandex", contains: ["service is currently unavailable"]),
            Rule(id: "later", cause: .greylisting, contains: ["come back later"]),
        ], providers: [Provider(name: "google", relays: ["google.com"]), Provider(name: "yandex", relays: ["yandex.ru"])])
        let text = "451 4.7.1 Sorry, the service is currently unavailable. Please come back later."
        let yandex = rules.providerIndex(named: "yandex")
        #expect(rules.classify(text, code: 451, dsn: "4.7.1", provider: yandex).1.map { rules.rules[$0].id } == "yandex-suspicious")
        #expect(rules.classify(text, code: 451, dsn: "4.7.1", provider: rules.providerIndex(named: "google")).1.map { rules.rules[$0].id } == "stock-unavailable")
        #expect(rules.classify(text, code: 451, dsn: "4.7.1").1.map { rules.rules[$0].id } == "stock-unavailable")
        var t = text
        let evidence = t.withUTF8 { rules.evidence($0, code: 451, dsn: "4.7.1", provider: yandex) }.map { rules.rules[$0.rule].id }
        #expect(evidence == ["yandex-suspicious", "stock-unavailable", "later"])
    }

    /// Local rules decide a text with a reply code only where their words can only be this
    /// host's (peer_replies): a delivery agent's own failure written with a code, as
    /// Courier's local module does (labelling policies L14, L18), while a receiver's
    /// "queue file write error" stays the receiver's (L26).
    @Test func localAgentFailuresWithAReplyCodeAreLocal() {
        let rules = RuleSet.builtin()
        #expect(rules.classify("450 fork() failed.", code: 450).0 == .localTransport)
        #expect(rules.classify("451 4.3.0 Error: queue file write error", code: 451, dsn: "4.3.0").0 == .serviceUnavailable)
        #expect(rules.classify("host 127.0.0.1[127.0.0.1] said: 451 4.5.0 Error in processing, id=12345, mail_via_smtp: at /usr/sbin/amavisd line 2121. (in reply to end of DATA command)", code: 451, dsn: "4.5.0").0 == .localTransport)
    }

    @Test func userRulesOverrideAndExtend() throws {
        let user = """
        [[rule]]
        id = "my-local-policy"
        cause = "content"
        contains = ["policy 42"]

        [[rule]]
        id = "\(RuleSet.builtin().rules[0].id)"
        enabled = false
        """
        let set = try RuleSet.load(files: [("user.toml", user)])
        let builtin = RuleSet.builtin()
        // A new rule is tried before the built-in rules of its layer (cue here).
        let firstCue = set.rules.firstIndex { $0.layer == .cue }
        #expect(firstCue.map { set.rules[$0].id } == "my-local-policy")
        #expect(set.rules.count == builtin.rules.count)
        #expect(!set.rules.contains { $0.id == builtin.rules[0].id })
    }

    /// A broad user rule cannot overrule narrower built-in evidence: a user's bare
    /// `codes = [421]` is a class rule, weighed after the words of a 421; a whole class
    /// `4.*` is compared with its class digit, so it decides no 5xx and no 2xx.
    @Test func userRulesAreWeighedInTheirLayer() throws {
        let user = """
        [[rule]]
        id = "every-421"
        cause = "other"
        codes = [421]

        [[rule]]
        id = "every-4xx"
        cause = "other"
        dsn = ["4.*"]
        """
        let set = try RuleSet.load(files: [("user.toml", user)])
        #expect(set.classify("421 4.7.0 Too many connections from your IP", code: 421, dsn: "4.7.0").0 == .connectionLimit)
        #expect(set.classify("421 closing", code: 421).0 == .other)
        let (c, r) = set.classify("550 5.7.1 go away", code: 550, dsn: "5.7.1")
        #expect(r.map { set.rules[$0].id } != "every-4xx", "\(c)")
        #expect(set.classify("451 4.9.9 hmm", code: 451, dsn: "4.9.9").1.map { set.rules[$0].id } == "every-4xx")
    }

    @Test func badRulesAreReportedWithFileAndLine() {
        let bad = """
        version = 1

        [[rule]]
        id = "ok-rule"
        cause = "rate_limit"
        contains = ["x"]

        [[rule]]
        id = "bad-rule"
        cause = "sunspots"
        colour = "red"
        """
        do {
            _ = try RuleSet.load(files: [("mine.toml", bad)])
            Issue.record("bad rules loaded")
        } catch {
            let text = error.description
            #expect(text.contains("mine.toml:10: unknown cause \"sunspots\""), "\(text)")
            #expect(text.contains("mine.toml:11: unknown key \"colour\""), "\(text)")
            #expect(text.contains("no matcher"), "\(text)")
        }
        do {
            _ = try RuleSet.load(files: [("broken.toml", "[[rule]\nid = 1")])
            Issue.record("broken TOML loaded")
        } catch {
            #expect(error.description.hasPrefix("broken.toml:1:"), "\(error.description)")
        }
    }
}

@Suite struct JSONWriterTests {
    @Test func escapesControlCharactersAndQuotes() {
        let w = JSONWriter()
        w.beginObject()
        w.key("t"); w.string("a\"b\\c\nd\u{01}e\u{7f}é")
        w.key("n"); w.int(nil)
        w.key("a"); w.beginArray(); w.int(1); w.bool(true); w.double(0.25); w.endArray()
        w.endObject()
        #expect(String(decoding: w.bytes, as: UTF8.self) == #"{"t":"a\"b\\c\nd\u0001e\u007fé","n":null,"a":[1,true,0.25]}"#)
    }
}

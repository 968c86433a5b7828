import DeferWatchCore
import Testing

/// The masking behind `rules suggest` and the report's unexplained texts: two instances of
/// one reply give one template, and the words that name the cause survive.
@Suite struct ReplyTemplateTests {
    // The same receiver reply to two senders, with other addresses, IPs, ids and numbers.
    @Test func instancesOfOneReplyShareATemplate() {
        let a = "host mx1.example.org[192.0.2.10] said: 451 4.7.1 <ann@example.org>: queue 1234 busy for 203.0.113.5, id=AB12CD (try at 10:15)"
        let b = "host mx7.example.org[198.51.100.3] said: 451 4.7.1 <bob@example.org>: queue 98 busy for 198.51.100.77, id=ZZ9 (try at 11:40)"
        #expect(ReplyTemplate.mask(Substring(a)) == ReplyTemplate.mask(Substring(b)))
        let t = ReplyTemplate.mask(Substring(a))
        #expect(t.contains("451 4.7.1"), "reply and enhanced codes stay: \(t)")
        #expect(t.contains("busy for <IP>"), "\(t)")
        #expect(t.hasPrefix("host <HOST>[...] said:"), "\(t)")
    }

    @Test func urlsAndWordsStayWhileMailAddressesGo() {
        let t = ReplyTemplate.mask("421-4.7.28 see https://support.google.com/mail/?p=X ask postmaster@example.net")
        #expect(t.contains("https://support.google.com/mail/?p=X"), "\(t)")
        #expect(t.contains("ask <ADDR>"), "\(t)")
    }

    @Test func punctuationAloneNeverStallsTheScan() {
        for text in ["...", ":::", ". : .", "a.:", "[", "<", "[unclosed <also", String(repeating: ".", count: 5000)] {
            _ = ReplyTemplate.mask(Substring(text))
        }
        #expect(ReplyTemplate.mask("x", limit: 400) == "x")
    }

    @Test func aDraftRuleNeedlesTheLongestKeptWords() {
        let drafts = RuleSuggestion.drafts(from: [UnexplainedText(shape: "450 Frobnicator queue <N> saturated for <ADDR>, come back at <N>", count: 3,
                                                                  example: "450 Frobnicator queue 7 saturated for <a@b.example>, come back at 10:00")])
        #expect(drafts.count == 1)
        #expect(drafts[0].needle == "frobnicator queue")
        #expect(drafts[0].code == 450)
        #expect(drafts[0].toml.contains("contains = [\"frobnicator queue\"]"))
        #expect(drafts[0].toml.hasPrefix("[[rule]]\nid = \"site-frobnicator-queue\""))
    }

    /// Whatever the templates, the drafts form a rules file that loads: ASCII ids, no two
    /// alike, a matcher in each; Exim's framing is not taken for the reply's words.
    @Test func draftsAlwaysFormALoadableRulesFile() throws {
        let texts = [
            "SMTP error from remote mail server after RCPT TO:<a@b.example>: 451 Ошибка сервера, попробуйте позже",
            "SMTP error from remote mail server after RCPT TO:<c@d.example>: 451 Boîte aux lettres indisponible  maintenant",
            "SMTP error from remote mail server after RCPT TO:<e@f.example>: 451 Boîte aux lettres indisponible  maintenant!",
            "host <HOST>[...] said: 451 Error (in reply to RCPT TO command)",
            "...",
        ]
        let unexplained = texts.map { UnexplainedText(shape: ReplyTemplate.mask(Substring($0)), count: 2, example: $0) }
        let drafts = RuleSuggestion.drafts(from: unexplained)
        #expect(!drafts.contains { $0.needle?.contains("smtp error from remote") == true }, "\(drafts.map(\.needle))")
        #expect(Set(drafts.map(\.id)).count == drafts.count)
        let file = "version = 1\n" + drafts.map { $0.toml.replacingOccurrences(of: "cause = \"other\"", with: "cause = \"service_unavailable\"") }.joined(separator: "\n")
        let rules = try RuleSet.load(files: [(name: "site.toml", text: file)])
        // Each draft with words explains its own sample (two templates with the same words
        // are explained by the first of their drafts).
        var classifier = TextClassifier(rules: rules)
        for d in drafts where d.needle != nil {
            let r = classifier.classify(d.sample)
            #expect(r.rule?.contains == [d.needle!], "\(d.id): \(d.sample) -> \(r.rule?.id ?? "-")")
        }
    }
}

import ArgumentParser
import DeferWatchCore
import DeferWatchDaemon

struct ClassifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "classify",
        abstract: "Print the cause and provider of a reply text (or of a whole log line).",
        discussion: """
        With a text, prints its cause, where it was decided (a receiver, or this MTA itself),
        the provider, the deciding rule with its file:line, and how sure the classification
        is: high (a provider's own reply or a code that names the cause), medium (cue
        phrases), low (only the reply code's class, or no rule). --explain also lists every
        rule that matched, in the order they are weighed, with the words found. With no text,
        reads one text per line on standard input and prints one JSON object per line:
        {"text":..., "cause":..., "origin":..., "provider":..., "rule":..., "confidence":...}

        Examples:
          deferwatch classify '421-4.7.28 Our system has detected an unusual rate of unsolicited mail'
          deferwatch classify --relay mx.example.com '451 4.7.1 Greylisted, please try again later'
          deferwatch classify --explain '421 4.4.5 Too many sessions from your IP'
          cut -d'(' -f2- deferred.txt | deferwatch classify
        """
    )

    @Argument(help: "The reply text (or a Postfix/Exim log line). Omit to read standard input.")
    var text: String?

    @Option(name: .long, help: ArgumentHelp("The relay host the text came from (helps recognise the provider).", valueName: "host"))
    var relay: String?

    @Option(name: .long, help: ArgumentHelp("The recipient domain (helps recognise the provider).", valueName: "domain"))
    var domain: String?

    @Flag(name: .long, help: "Print JSON even for a single text.")
    var json = false

    @Flag(name: .long, help: "Also show every rule that matched and the words it found.")
    var explain = false

    @OptionGroup var options: ConfigOptions

    func run() throws {
        let ruleSet = try options.load().rules
        var classifier = TextClassifier(rules: ruleSet)
        let out = FDWriter(fd: 1)
        if let text {
            let r = classifier.classify(text, relay: relay, domain: domain, explain: explain)
            if json {
                out.write(r.json())
            } else {
                var s = "cause:      \(r.cause.rawValue)\n"
                s += "origin:     \(r.cause.origin == .local ? "local (this MTA decided; no receiver deferred it)" : "remote")\n"
                s += "provider:   \(r.provider ?? "-")\n"
                if let rule = r.rule {
                    s += "rule:       \(rule.id) (\(rule.origin))\n"
                    s += "confidence: \(r.confidence.rawValue) (\(rule.layer.rawValue) rule)\n"
                    if !rule.note.isEmpty { s += "note:       \(rule.note)\n" }
                } else if r.inherited {
                    s += "rule:       - (the line carries no reason of its own: the cause is inherited)\n"
                    s += "confidence: \(r.confidence.rawValue) (inherited)\n"
                } else {
                    s += "rule:       - (no rule matched)\n"
                    s += "confidence: low\n"
                }
                s += "fix:        \(r.cause.summary)\n"
                if explain {
                    if let code = r.code { s += "code:       \(code)\(r.dsn.map { " " + $0 } ?? "")\n" }
                    else if let dsn = r.dsn { s += "code:       \(dsn)\n" }
                    for m in r.stageMarkers { s += "stage:      \"\(m)\" (names the SMTP command, not matched as evidence)\n" }
                    s += "evidence, in the order weighed (layers: \(RuleLayer.allCases.map(\.rawValue).joined(separator: ", ")); the first decides):\n"
                    if r.evidence.isEmpty { s += "  (no rule matched)\n" }
                    for (i, e) in r.evidence.enumerated() {
                        let words = e.needles.isEmpty ? "" : " words: " + e.needles.map { "\"\($0)\"" }.joined(separator: ", ")
                        let decided = i == 0 && e.rule.id == r.rule?.id
                        s += "  \(decided ? "*" : " ") \(e.rule.layer.rawValue)  \(e.rule.id) -> \(e.rule.cause.rawValue) (\(e.rule.origin))\(words)\n"
                    }
                }
                out.write(s)
            }
            out.flush()
            return
        }
        // One JSON object per input line, in order: a line that cannot be classified (empty,
        // or over 64 KiB) gets an object with "error" instead of a cause.
        var splitter = LineSplitter()
        func error(_ text: String, _ why: String) {
            let w = JSONWriter()
            w.beginObject()
            w.key("text"); w.string(text)
            w.key("cause"); w.string(nil)
            w.key("error"); w.string(why)
            w.endObject()
            w.newline()
            out.write(w.bytes)
        }
        let limit = splitter.maxLineLength
        splitter.onOversized = { error("", "line longer than \(limit) bytes, not classified") }
        let handle: (Bytes) -> Void = { line in
            let t = line.string
            if t.allSatisfy({ $0 == " " || $0 == "\t" }) {
                error(t, "empty line, nothing to classify")
                return
            }
            out.write(classifier.classify(t, relay: relay, domain: domain, explain: explain).json())
        }
        do {
            try ChunkReader(path: "-").read(fd: 0, body: { chunk in splitter.feed(chunk, handle) })
        } catch {
            writeStderr("deferwatch: \(error)")
            splitter.finish(handle)
            out.flush()
            throw ExitCode(1)
        }
        splitter.finish(handle)
        out.flush()
    }
}

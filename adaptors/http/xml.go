package http

import (
	"regexp"
	"sort"
	"strings"

	"github.com/andybalholm/cascadia"
	"golang.org/x/net/html"

	"github.com/jobmediator/jobmediator/adaptors"
)

// parseXML's documents. language-http 3.x–6.x hand the body to
// cheerio.load (cheerio 1.0.0-rc.10/rc.12), which parses it with parse5 as
// an HTML5 document whatever it holds (XML tag and attribute names are
// lowercased, <html><head><body> are added). golang.org/x/net/html builds
// the same tree by the same WHATWG algorithm, and cascadia matches CSS
// selectors on it as css-select does in cheerio's HTML mode (tag and
// attribute names case-insensitive). http.js builds the cheerio API jobs
// use on the node ids these functions hand out.

// xmlDocs is one run's parsed documents: nodes by id, and each node's
// position in document order (cheerio returns selections in that order).
type xmlDocs struct {
	nodes []*html.Node
	ids   map[*html.Node]int
	order map[*html.Node]int
}

var unquotedAttr = regexp.MustCompile(`\[\s*([^\s~|^$*!=\]"']+)\s*([~|^$*!]?=)\s*([^\s"'\]][^\s"\]]*)\s*\]`)

// maxXMLNodes bounds what one run may hold in parsed documents, so a job
// that parses in a loop cannot grow the worker without limit.
const maxXMLNodes = 2_000_000

func (d *xmlDocs) id(n *html.Node) int {
	if id, ok := d.ids[n]; ok {
		return id
	}
	d.nodes = append(d.nodes, n)
	d.ids[n] = len(d.nodes) - 1
	return len(d.nodes) - 1
}

func xmlHost(env *adaptors.Env) map[string]any {
	docs := func() *xmlDocs {
		run := env.Run()
		if run.Values == nil {
			run.Values = map[string]any{}
		}
		if d, ok := run.Values["http.xml"].(*xmlDocs); ok {
			return d
		}
		d := &xmlDocs{ids: map[*html.Node]int{}, order: map[*html.Node]int{}}
		run.Values["http.xml"] = d
		return d
	}
	node := func(d *xmlDocs, id int) *html.Node {
		if id < 0 || id >= len(d.nodes) {
			env.Throw("parseXML: unknown node", nil)
		}
		return d.nodes[id]
	}
	nodes := func(d *xmlDocs, ids []int) []*html.Node {
		out := make([]*html.Node, 0, len(ids))
		for _, id := range ids {
			out = append(out, node(d, id))
		}
		return out
	}
	// sorted returns the ids of ns, without duplicates, in document order.
	sorted := func(d *xmlDocs, ns []*html.Node) []int {
		seen := map[*html.Node]bool{}
		uniq := ns[:0]
		for _, n := range ns {
			if !seen[n] {
				seen[n] = true
				uniq = append(uniq, n)
			}
		}
		sort.SliceStable(uniq, func(i, j int) bool { return d.order[uniq[i]] < d.order[uniq[j]] })
		ids := make([]int, len(uniq))
		for i, n := range uniq {
			ids[i] = d.id(n)
		}
		return ids
	}
	compile := func(sel string) cascadia.SelectorGroup {
		g, err := cascadia.ParseGroup(sel)
		if err != nil {
			// css-what (cheerio) reads an unquoted attribute value up to
			// the bracket ([n=2], [href=/a/b]); CSS and cascadia want an
			// identifier there, so quote it and try again.
			if q := unquotedAttr.ReplaceAllString(sel, `[$1$2"$3"]`); q != sel {
				if g2, err2 := cascadia.ParseGroup(q); err2 == nil {
					return g2
				}
			}
			env.Throw("parseXML: selector "+sel+": "+err.Error(), map[string]any{"name": "SyntaxError"})
		}
		return g
	}
	return map[string]any{
		// xmlLoad parses a body and returns the id of its document node.
		"xmlLoad": func(body string) int {
			d := docs()
			doc, err := html.Parse(strings.NewReader(body))
			if err != nil {
				env.Throw("parseXML: "+err.Error(), nil)
			}
			n := len(d.order)
			for range doc.Descendants() {
				n++
			}
			if n > maxXMLNodes {
				env.Throw("parseXML: the run's documents hold more than 2,000,000 nodes", map[string]any{"code": "ERR_XML_TOO_LARGE"})
			}
			d.order[doc] = len(d.order)
			for c := range doc.Descendants() {
				d.order[c] = len(d.order)
			}
			return d.id(doc)
		},
		// xmlEmpty is what cheerio.load makes of a value that is not a
		// string (language-http 7's {body: data}, a function in ≤5): a
		// document with no nodes at all.
		"xmlEmpty": func() int {
			d := docs()
			doc := &html.Node{Type: html.DocumentNode}
			d.order[doc] = len(d.order)
			return d.id(doc)
		},
		// xmlSelect: mode "find" (descendants of the contexts matching
		// sel), "children" (element children, matching sel if given),
		// "filter" (the nodes themselves that match), "parent".
		"xmlSelect": func(ids []int, sel, mode string) []int {
			d := docs()
			var g cascadia.SelectorGroup
			if sel != "" {
				g = compile(sel)
			}
			var out []*html.Node
			for _, n := range nodes(d, ids) {
				switch mode {
				case "find":
					out = append(out, cascadia.QueryAll(n, g)...) // below n, not n
				case "children":
					for c := n.FirstChild; c != nil; c = c.NextSibling {
						if c.Type == html.ElementNode && (g == nil || g.Match(c)) {
							out = append(out, c)
						}
					}
				case "filter":
					if n.Type == html.ElementNode && g.Match(n) {
						out = append(out, n)
					}
				case "parent":
					if p := n.Parent; p != nil && p.Type == html.ElementNode && (g == nil || g.Match(p)) {
						out = append(out, p)
					}
				}
			}
			return sorted(d, out)
		},
		// xmlText is cheerio's .text(): the text of every text node under
		// the nodes, in order (comments excluded).
		"xmlText": func(ids []int) string {
			var b strings.Builder
			var walk func(*html.Node)
			walk = func(n *html.Node) {
				if n.Type == html.TextNode {
					b.WriteString(n.Data)
					return
				}
				for c := n.FirstChild; c != nil; c = c.NextSibling {
					walk(c)
				}
			}
			for _, n := range nodes(docs(), ids) {
				walk(n)
			}
			return b.String()
		},
		// xmlNode describes one node for JS: {type, name, attribs} for an
		// element, {type, data} otherwise.
		"xmlNode": func(id int) map[string]any {
			n := node(docs(), id)
			switch n.Type {
			case html.ElementNode:
				attribs := map[string]any{}
				for _, a := range n.Attr {
					k := a.Key
					if a.Namespace != "" {
						k = a.Namespace + ":" + a.Key
					}
					attribs[k] = a.Val
				}
				return map[string]any{"type": "tag", "name": n.Data, "attribs": attribs}
			case html.TextNode:
				return map[string]any{"type": "text", "data": n.Data}
			case html.DocumentNode:
				return map[string]any{"type": "root", "name": "root"}
			}
			return map[string]any{"type": "comment", "data": n.Data}
		},
		// xmlHTML is the inner HTML of a node (cheerio's .html()).
		"xmlHTML": func(id int) string {
			var b strings.Builder
			serializeChildren(&b, node(docs(), id))
			return b.String()
		},
	}
}

// serializeChildren writes n's children as the HTML spec's fragment
// serialisation does, which is what cheerio 1.0.0-rc.10/12's .html() gives
// for a parse5 document (and html.Render does not: it escapes quotes in
// text, writes U+00A0 raw and closes void elements with "/>"): text escapes
// &, U+00A0, < and >; attribute values &, U+00A0 and "; void elements
// have no end tag; the text of raw-text elements is written as it is.
func serializeChildren(b *strings.Builder, n *html.Node) {
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		switch c.Type {
		case html.ElementNode:
			b.WriteByte('<')
			b.WriteString(c.Data)
			for _, a := range c.Attr {
				b.WriteByte(' ')
				if a.Namespace != "" {
					b.WriteString(a.Namespace + ":")
				}
				b.WriteString(a.Key)
				b.WriteString(`="`)
				b.WriteString(attrEscaper.Replace(a.Val))
				b.WriteByte('"')
			}
			b.WriteByte('>')
			if voidElements[c.Data] && c.Namespace == "" {
				continue
			}
			serializeChildren(b, c)
			b.WriteString("</" + c.Data + ">")
		case html.TextNode:
			if p := c.Parent; p != nil && p.Type == html.ElementNode && p.Namespace == "" && rawTextElements[p.Data] {
				b.WriteString(c.Data)
			} else {
				b.WriteString(textEscaper.Replace(c.Data))
			}
		case html.CommentNode:
			b.WriteString("<!--" + c.Data + "-->")
		case html.DoctypeNode:
			b.WriteString("<!DOCTYPE " + c.Data + ">")
		}
	}
}

var (
	textEscaper     = strings.NewReplacer("&", "&amp;", "\u00a0", "&nbsp;", "<", "&lt;", ">", "&gt;")
	attrEscaper     = strings.NewReplacer("&", "&amp;", "\u00a0", "&nbsp;", `"`, "&quot;")
	voidElements    = map[string]bool{"area": true, "base": true, "basefont": true, "bgsound": true, "br": true, "col": true, "embed": true, "frame": true, "hr": true, "img": true, "input": true, "keygen": true, "link": true, "meta": true, "param": true, "source": true, "track": true, "wbr": true}
	rawTextElements = map[string]bool{"style": true, "script": true, "xmp": true, "iframe": true, "noembed": true, "noframes": true, "plaintext": true, "noscript": true}
)

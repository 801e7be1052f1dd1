package trace

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// Live is mtr's curses view (mtr(8), "the default interactive mode"): the
// hop table redrawn in place as answers come in, cycle after cycle, until
// q, Ctrl-C or -c cycles. The caller puts the terminal in cbreak mode and
// restores it; the view only writes escape sequences and reads keys.
type Live struct {
	// Keys is the terminal's input: q quits, r restarts the statistics,
	// p pauses, space resumes (mtr's keys). Nil: no keys.
	Keys io.Reader
	// Size reports the terminal's columns and lines at each redraw, so a
	// resized window is filled (80x24 when nil).
	Size func() (cols, lines int)
}

// mtrLive draws the screen mtr 0.95 draws in its default display mode.
type mtrLive struct {
	mtrPrinter
	live  *Live
	host  string
	keys  chan byte
	quit  context.CancelFunc
	cols  int
	lines int
}

const (
	enterScreen = "\x1b[?1049h\x1b[?25l" // the alternate screen, cursor hidden
	leaveScreen = "\x1b[?25h\x1b[?1049l"
	bold        = "\x1b[1m"
	plain       = "\x1b[0m"
)

func (v *mtrLive) start() {
	v.began = time.Now()
	v.host, _ = os.Hostname()
	v.w.WriteString(enterScreen)
	v.w.Flush()
}

// watchKeys reads the terminal for the run; q cancels it at once, the
// other keys reach the loop through v.keys. The reader goroutine ends
// with the process (a terminal read cannot be interrupted).
func (v *mtrLive) watchKeys(ctx context.Context) context.Context {
	ctx, v.quit = context.WithCancel(ctx)
	v.keys = make(chan byte, 16)
	if v.live.Keys == nil {
		return ctx
	}
	go func() {
		b := make([]byte, 1)
		for {
			if n, err := v.live.Keys.Read(b); err != nil {
				return
			} else if n == 0 {
				continue
			}
			if b[0] == 'q' || b[0] == 'Q' {
				v.quit()
				return
			}
			select {
			case v.keys <- b[0]:
			default:
			}
		}
	}()
	return ctx
}

// summary leaves the view: mtr prints nothing after its screen.
func (v *mtrLive) summary(result) {
	v.quit()
	v.w.WriteString(leaveScreen)
}

// draw writes the whole screen: title, source and destination with the
// time, the keys, the column titles and a line per hop, at mtr's columns
// for the terminal's width.
func (v *mtrLive) draw(table []*hopStats) {
	v.cols, v.lines = 80, 24
	if v.live.Size != nil {
		if c, l := v.live.Size(); c > 0 && l > 0 {
			v.cols, v.lines = c, l
		}
	}
	var b strings.Builder
	row := 0
	line := func(s string) {
		if row >= v.lines {
			return
		}
		if row > 0 {
			b.WriteString("\r\n")
		}
		b.WriteString(s)
		b.WriteString("\x1b[K")
		row++
	}
	b.WriteString("\x1b[H")
	title := "My traceroute  [v0.95]"
	line(strings.Repeat(" ", max(0, (v.cols-len(title))/2)) + title)
	dst := v.t.opts.Target + " (" + v.t.dst.String() + ")"
	line(place(fmt.Sprintf("%s (%s) -> %s", v.host, v.t.src, dst), max(0, v.cols-25), time.Now().Format("2006-01-02T15:04:05-0700")))
	line("Keys:  " + bold + "H" + plain + "elp   " + bold + "D" + plain + "isplay mode   " + bold + "R" + plain +
		"estart statistics   " + bold + "O" + plain + "rder of fields   " + bold + "q" + plain + "uit")
	// The statistics end one column short of the right edge.
	stats := 0
	for _, f := range mtrFields {
		stats += f.width
	}
	at := max(len(" Host")+1, v.cols-1-stats)
	line(place(place("", at+3, "Packets"), at+25, "Pings"))
	header := " Host"
	x := at
	for _, f := range mtrFields {
		header = place(header, x, fmt.Sprintf("%*s", f.width, f.title))
		x += f.width
	}
	line(bold + header + plain)
	for _, h := range table {
		if h.recv == 0 && len(h.addrs) == 0 {
			line(fmt.Sprintf("%2d. %s", h.ttl, bold+"(waiting for reply)"+plain))
			continue
		}
		line(placeFields(fmt.Sprintf("%2d. %s", h.ttl, v.hostName(h)), at, h))
		// A hop answering from more than one address: mtr lists the
		// others under it.
		for _, a := range h.addrs[1:] {
			line("    " + v.names.names(h.addrs[1:])[a])
		}
	}
	b.WriteString("\x1b[J")
	v.w.WriteString(b.String())
	v.w.Flush()
}

// newMtrLive is the live view's printer.
func newMtrLive(w io.Writer, t *tracer, names *namer, m *MtrOutput) *mtrLive {
	return &mtrLive{mtrPrinter: mtrPrinter{w: bufio.NewWriter(w), t: t, names: names, m: m}, live: m.Live}
}

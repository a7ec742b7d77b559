// The session state diagram, computed from the library's transition table (`transitions`):
// the states, the arrows and their labels all come from the table, and the layout is a
// small layered drawing (longest path from the first state, back edges drawn alongside).
// Arrows that lead into the final state from far above go round the drawing instead of
// crossing it: QUIT from AUTHORIZATION down the left side, a lost connection (a rule that
// holds in every state) dotted down the right; the library's own sub-states' exits (QUIT
// after USER, a refused greeting) and the ERROR rule are written under the drawing.
import { allowed, type State, type Transition, transitions } from "pop3-everywhere"
import { h, replace, svg } from "./dom.ts"

interface Edge {
  readonly from: State
  readonly to: State
  readonly rows: ReadonlyArray<Transition>
}

export interface Model {
  readonly initial: State
  readonly states: ReadonlyArray<State>
  readonly layer: ReadonlyMap<State, number>
  /** Forward edges between adjacent layers or longer (drawn through placeholders), and back edges. */
  readonly drawn: ReadonlyArray<Edge & { readonly back: boolean }>
  /** Edges into a final state from far above, out of RFC 1939's states: drawn round the left side. */
  readonly exits: ReadonlyArray<Edge>
  /** The other edges into a final state from far above: described under the drawing. */
  readonly summarized: ReadonlyArray<Edge>
  /** Rows that hold from (almost) every state, like a lost connection. */
  readonly rules: ReadonlyArray<Transition>
  /** The rule of a lost connection into a drawn state: dotted, round the right side. */
  readonly lost: Transition | undefined
  /** Per state, the commands answered without leaving it. */
  readonly stays: ReadonlyMap<State, ReadonlyArray<string>>
  readonly layers: ReadonlyArray<ReadonlyArray<State | Placeholder>>
}

interface Placeholder {
  readonly placeholder: Edge
}

const outcomeText = (t: Transition): string =>
  t.outcome === "ok"
    ? "+OK"
    : t.outcome === "err"
      ? "-ERR"
      : t.outcome === "continue"
        ? "+"
        : t.outcome === "sent"
          ? "sent"
          : ""

const onText = (on: Transition["on"]): string =>
  on === "tls-established"
    ? "TLS established"
    : on === "connection-lost"
      ? "connection lost"
      : on === "protocol-error"
        ? "the server breaks the protocol"
        : on === "SaslResponse"
          ? "SASL response"
          : on

/** A short label: the command when there is one, then the answers that take this arrow. */
export const edgeLabel = (edge: Edge): string => {
  const ons = [...new Set(edge.rows.map((r) => onText(r.on)))]
  const outcomes = [...new Set(edge.rows.map(outcomeText).filter((o) => o !== ""))]
  return [ons.length === 1 ? ons[0] : "", outcomes.join("/")].join(" ").trim()
}

/** Every row of an edge in words, for tooltips and the text version. */
export const edgeDetail = (edge: Edge): string =>
  edge.rows.map((r) => `${onText(r.on)}${outcomeText(r) !== "" ? ` ${outcomeText(r)}` : ""}`).join(", ")

/** The states RFC 1939 names; the others are the library's (GREETING, AUTHORIZATION_PASS, SASL, STLS, CLOSED, ERROR). */
export const RFC_STATES: ReadonlyArray<State> = ["AUTHORIZATION", "TRANSACTION", "UPDATE"]

export const buildModel = (table: ReadonlyArray<Transition> = transitions): Model => {
  const allStates: Array<State> = []
  for (const t of table) for (const s of [t.from, t.to]) if (!allStates.includes(s)) allStates.push(s)
  const initial = table[0]?.from ?? "AUTHORIZATION"

  // An answer moves the machine from where sending the command led ("sent"), if anywhere.
  const sentTo = new Map(table.filter((t) => t.outcome === "sent").map((t) => [`${t.from} ${t.on}`, t.to]))
  const sourceOf = (t: Transition): State =>
    t.outcome === "sent" || t.outcome === "event" ? t.from : (sentTo.get(`${t.from} ${t.on}`) ?? t.from)

  // A rule that holds from most states (a lost connection) is a rule, not an arrow.
  const fromCount = new Map<string, Set<State>>()
  for (const t of table) {
    const key = `${t.on} ${t.outcome} ${t.to}`
    fromCount.set(key, (fromCount.get(key) ?? new Set()).add(t.from))
  }
  const isRule = (t: Transition) => (fromCount.get(`${t.on} ${t.outcome} ${t.to}`)?.size ?? 0) > allStates.length / 2
  // A state reached only by a rule (ERROR) is told in the rule's sentence, not drawn alone.
  const states = allStates.filter((s) => table.some((t) => !isRule(t) && (t.from === s || t.to === s)))

  const stays = new Map<State, Array<string>>()
  const grouped = new Map<string, { from: State; to: State; rows: Array<Transition> }>()
  const rules: Array<Transition> = []
  for (const t of table) {
    const from = sourceOf(t)
    if (isRule(t)) {
      if (!rules.some((r) => r.on === t.on && r.to === t.to)) rules.push(t)
      continue
    }
    if (from === t.to) {
      const list = stays.get(from) ?? []
      if (!list.includes(t.on)) list.push(t.on)
      stays.set(from, list)
      continue
    }
    const key = `${from} ${t.to}`
    const edge = grouped.get(key) ?? { from, to: t.to, rows: [] }
    edge.rows.push(t)
    grouped.set(key, edge)
  }
  const edges = [...grouped.values()]

  // Back edges: those closing a cycle in a depth-first walk from the initial state.
  const back = new Set<Edge>()
  const onStack = new Set<State>()
  const seen = new Set<State>()
  const visit = (s: State) => {
    seen.add(s)
    onStack.add(s)
    for (const e of edges.filter((e) => e.from === s)) {
      if (onStack.has(e.to)) back.add(e)
      else if (!seen.has(e.to)) visit(e.to)
    }
    onStack.delete(s)
  }
  visit(initial)
  for (const s of states) if (!seen.has(s)) visit(s)

  // Longest-path layering over the forward edges.
  const forward = edges.filter((e) => !back.has(e))
  const layer = new Map<State, number>(states.map((s) => [s, 0]))
  for (let changed = true, guard = 0; changed && guard < states.length * states.length; guard++) {
    changed = false
    for (const e of forward) {
      const want = (layer.get(e.from) ?? 0) + 1
      if ((layer.get(e.to) ?? 0) < want) {
        layer.set(e.to, want)
        changed = true
      }
    }
  }

  // Edges reaching a final state (no way out) from more than one layer up are summarized.
  const final = new Set(states.filter((s) => !edges.some((e) => e.from === s)))
  const span = (e: Edge) => (layer.get(e.to) ?? 0) - (layer.get(e.from) ?? 0)
  const far = edges.filter((e) => final.has(e.to) && span(e) > 1)
  const exits = far.filter((e) => RFC_STATES.includes(e.from))
  const summarized = far.filter((e) => !exits.includes(e))
  const lost = rules.find((r) => r.on === "connection-lost" && states.includes(r.to))
  const drawn = edges.filter((e) => !far.includes(e)).map((e) => ({ ...e, back: back.has(e) }))

  // Layers in order of first appearance in the table; long edges get a placeholder per
  // layer they cross, placed in the order of the edge's first row.
  const depth = Math.max(...layer.values())
  const order = (item: State | Placeholder) =>
    typeof item !== "string"
      ? table.indexOf(item.placeholder.rows[0]!)
      : table.findIndex((t) => t.from === item || t.to === item)
  const layers: Array<Array<State | Placeholder>> = Array.from({ length: depth + 1 }, () => [])
  for (const s of states) layers[layer.get(s) ?? 0]!.push(s)
  for (const e of drawn) {
    if (e.back) continue
    for (let l = (layer.get(e.from) ?? 0) + 1; l < (layer.get(e.to) ?? 0); l++) layers[l]!.push({ placeholder: e })
  }
  for (const l of layers) l.sort((a, b) => order(a) - order(b))
  return { initial, states, layer, drawn, exits, summarized, rules, lost, stays, layers }
}

// ── Drawing ──────────────────────────────────────────────────────────────────────────
const CHAR = 6.6
const NODE_H = 24
const GAP_X = 36
const GAP_Y = 40
const PAD = 10
const SLOT = 12
/** Room on each side for the arrows drawn round the layers (QUIT before login, a lost connection). */
const RAIL = 26
const LABEL_CHAR = 5.3

interface Box {
  readonly x: number
  readonly y: number
  readonly w: number
}

/** The label drawn on an arrow: the command, or the answer when several commands share it. */
export const shortLabel = (edge: Edge): string => {
  const ons = [...new Set(edge.rows.map((r) => onText(r.on)))]
  const outcomes = [...new Set(edge.rows.map(outcomeText))]
  if (ons.length === 1) {
    // "QUIT sent" into UPDATE and "QUIT answered" out of it, so they do not read as two QUITs.
    if (outcomes.length === 1 && (outcomes[0] === "-ERR" || outcomes[0] === "sent")) return `${ons[0]} ${outcomes[0]}`
    if (
      outcomes.length === 2 &&
      outcomes.includes("+OK") &&
      outcomes.includes("-ERR") &&
      edge.rows.every((r) => r.on === "QUIT")
    )
      return `${ons[0]} answered`
    return ons[0]!
  }
  return outcomes.join("/")
}

/** The label of an arrow drawn round the side: the command alone (QUIT), whatever the answer. */
export const exitLabel = (edge: Edge): string => [...new Set(edge.rows.map((r) => onText(r.on)))].join("/")

/** The label of the dotted arrow of a lost connection, in lines. */
export const lostLabel = (rule: Transition): ReadonlyArray<string> => [
  `any state: ${onText(rule.on)}`,
  rule.to === "CLOSED" ? "→ CLOSED, nothing deleted" : `→ ${rule.to}`
]

/**
 * The lines written under the drawing, inside it: the arrows summarized rather than drawn
 * (QUIT after USER, a refused greeting) and the rules not drawn (a broken protocol: ERROR).
 */
export const diagramNotes = (model: Model): ReadonlyArray<string> => [
  ...model.summarized.map((e) => `${e.from} → ${e.to} on ${edgeLabel(e)}`),
  ...model.rules
    .filter((r) => r !== model.lost)
    .map(
      (r) =>
        `any state → ${r.to} on ${onText(r.on)}${r.on === "connection-lost" && r.to === "CLOSED" ? ": nothing is deleted" : ""}`
    )
]

export interface Diagram {
  readonly element: HTMLElement
  /** Highlights the current state and the arrow that led there. */
  readonly setCurrent: (state: State | undefined, from?: State) => void
  /** Marks the states in which a command may be sent (step mode), or none. */
  readonly setAllowing: (states: ReadonlyArray<State>) => void
}

export const makeDiagram = (model: Model = buildModel()): Diagram => {
  const width = (s: State) => Math.max(64, s.length * CHAR + 20)
  const layerWidth = (items: ReadonlyArray<State | Placeholder>) =>
    items.reduce((sum, item) => sum + (typeof item === "string" ? width(item) : SLOT), 0) +
    GAP_X * Math.max(0, items.length - 1)
  const W = Math.max(...model.layers.map(layerWidth)) + PAD * 2 + RAIL * 2
  const boxes = new Map<State | Placeholder, Box>()
  model.layers.forEach((items, l) => {
    let x = (W - layerWidth(items)) / 2
    for (const item of items) {
      const w = typeof item === "string" ? width(item) : SLOT
      boxes.set(item, { x, y: PAD + l * (NODE_H + GAP_Y), w })
      x += w + GAP_X
    }
  })
  const footnotes = diagramNotes(model)
  const FOOT_LINE = 14
  const drawingH = PAD * 2 + model.layers.length * NODE_H + (model.layers.length - 1) * GAP_Y
  const H = drawingH + footnotes.length * FOOT_LINE

  const box = (s: State) => boxes.get(s)!
  const cx = (b: Box) => b.x + b.w / 2
  const placeholders = (e: Edge) =>
    [...boxes.entries()].filter(([k]) => typeof k !== "string" && k.placeholder === e).map(([, b]) => b)

  // Ports: the arrows leaving a node's bottom (or top) are spread along it, ordered by where
  // they go, so arrows to neighbours in both directions run side by side instead of crossing.
  const ports = new Map<string, number>()
  const spread = (
    node: State,
    side: "top" | "bottom",
    ends: ReadonlyArray<{ key: string; toward: number; rank: number }>
  ) => {
    const b = box(node)
    const sorted = [...ends].sort((p, q) => p.toward - q.toward || p.rank - q.rank)
    const room = Math.min(b.w - 16, sorted.length * 14)
    sorted.forEach((end, i) =>
      ports.set(`${end.key} ${side}`, cx(b) + (sorted.length === 1 ? 0 : -room / 2 + (room * i) / (sorted.length - 1)))
    )
  }
  const bottomEnds = new Map<State, Array<{ key: string; toward: number; rank: number }>>()
  const topEnds = new Map<State, Array<{ key: string; toward: number; rank: number }>>()
  const push = (map: typeof bottomEnds, s: State, end: { key: string; toward: number; rank: number }) =>
    map.set(s, [...(map.get(s) ?? []), end])
  for (const e of model.drawn) {
    const key = `${e.from} ${e.to}`
    const first = placeholders(e)[0]
    const last = placeholders(e).at(-1)
    if (!e.back) {
      push(bottomEnds, e.from, { key: `${key} out`, toward: cx(first ?? box(e.to)), rank: 1 })
      push(topEnds, e.to, { key: `${key} in`, toward: cx(last ?? box(e.from)), rank: 1 })
    } else {
      push(topEnds, e.from, { key: `${key} out`, toward: cx(box(e.to)), rank: 0 })
      push(bottomEnds, e.to, { key: `${key} in`, toward: cx(box(e.from)), rank: 0 })
    }
  }
  for (const [s, ends] of bottomEnds) spread(s, "bottom", ends)
  for (const [s, ends] of topEnds) spread(s, "top", ends)
  const port = (key: string, side: "top" | "bottom") => ports.get(`${key} ${side}`) ?? 0

  const root = svg("svg", {
    viewBox: `0 0 ${W} ${H}`,
    width: W,
    class: "diagram",
    role: "img",
    "aria-labelledby": "diagram-title diagram-desc"
  })
  root.append(
    svg("title", { id: "diagram-title" }, "POP3 session states"),
    svg(
      "desc",
      { id: "diagram-desc" },
      "Drawn from the library's transition table; the same information follows as text."
    ),
    svg(
      "defs",
      {},
      ...["arrow", "arrow-on"].map((id) =>
        svg(
          "marker",
          {
            id,
            viewBox: "0 0 8 8",
            refX: 7,
            refY: 4,
            markerWidth: 7,
            markerHeight: 7,
            markerUnits: "userSpaceOnUse",
            orient: "auto-start-reverse"
          },
          svg("path", { d: "M0,0 L8,4 L0,8 z", class: id })
        )
      )
    )
  )

  // A label on a plate of the card's colour: legible where arrows cross behind it.
  const label = (x: number, y: number, anchor: "start" | "end", lines: ReadonlyArray<string>) => {
    const w = Math.max(...lines.map((l) => l.length)) * LABEL_CHAR + 6
    const left = anchor === "start" ? x - 3 : x - w + 3
    return svg(
      "g",
      { class: "label" },
      svg("rect", {
        class: "halo",
        x: left.toFixed(1),
        y: (y - 9).toFixed(1),
        width: w.toFixed(1),
        height: lines.length * 11 + 2,
        rx: 3
      }),
      ...lines.map((line, i) =>
        svg("text", { x: x.toFixed(1), y: (y + i * 11).toFixed(1), "text-anchor": anchor }, line)
      )
    )
  }

  const edgeEls = new Map<string, SVGGElement>()
  for (const e of model.drawn) {
    const key = `${e.from} ${e.to}`
    const a = box(e.from)
    const b = box(e.to)
    let points: Array<[number, number]>
    if (!e.back) {
      points = [[port(`${key} out`, "bottom"), a.y + NODE_H]]
      for (const p of placeholders(e)) points.push([cx(p), p.y], [cx(p), p.y + NODE_H])
      points.push([port(`${key} in`, "top"), b.y])
    } else {
      points = [
        [port(`${key} out`, "top"), a.y],
        [port(`${key} in`, "bottom"), b.y + NODE_H]
      ]
    }
    // Smooth S-curves between layers (vertical tangents at both ends), straight through placeholders.
    let d = `M${points[0]![0].toFixed(1)},${points[0]![1]}`
    for (let i = 1; i < points.length; i++) {
      const [x0, y0] = points[i - 1]!
      const [x1, y1] = points[i]!
      const my = (y0 + y1) / 2
      d +=
        x0 === x1
          ? ` L${x1.toFixed(1)},${y1}`
          : ` C${x0.toFixed(1)},${my} ${x1.toFixed(1)},${my} ${x1.toFixed(1)},${y1}`
    }
    // The label sits at the middle of the first curve: right of forward arrows, left of back arrows.
    const [x1, y1] = points[0]!
    const [x2, y2] = points[1]!
    const lx = (x1 + x2) / 2 + (e.back ? -4 : 4)
    const ly = (y1 + y2) / 2 + 3
    const g = svg(
      "g",
      { class: `edge${e.back ? " back" : ""}` },
      svg("title", {}, `${e.from} → ${e.to}: ${edgeDetail(e)}`),
      svg("path", { d, "marker-end": "url(#arrow)" }),
      label(lx, ly, e.back ? "end" : "start", [shortLabel(e)])
    )
    edgeEls.set(key, g)
    root.append(g)
  }

  // QUIT before login: out of the state's left side, down the left margin, into the final state.
  model.exits.forEach((e, i) => {
    const a = box(e.from)
    const b = box(e.to)
    const x = PAD + 4 + i * 8
    const ya = a.y + NODE_H / 2
    const yb = b.y + NODE_H / 2 - 4 + i * 8
    const g = svg(
      "g",
      { class: "edge exit" },
      svg("title", {}, `${e.from} → ${e.to}: ${edgeDetail(e)}`),
      svg("path", { d: `M${a.x},${ya} L${x},${ya} L${x},${yb} L${b.x},${yb}`, "marker-end": "url(#arrow)" }),
      label(x + 5, (ya + yb) / 2, "start", [exitLabel(e)])
    )
    edgeEls.set(`${e.from} ${e.to}`, g)
    root.append(g)
  })
  // A lost connection: dotted, from the top of the drawing down the right margin, from any state.
  if (model.lost !== undefined) {
    const b = box(model.lost.to)
    const x = W - PAD - 4
    const yb = b.y + NODE_H / 2
    root.append(
      svg(
        "g",
        { class: "edge lost" },
        svg("title", {}, `Any state → ${model.lost.to}: ${onText(model.lost.on)}; nothing is deleted`),
        svg("path", { d: `M${x},${PAD} L${x},${yb} L${b.x + b.w},${yb}`, "marker-end": "url(#arrow)" }),
        label(x - 6, yb - 20, "end", lostLabel(model.lost))
      )
    )
  }

  footnotes.forEach((line, i) =>
    root.append(
      svg(
        "text",
        { class: "footnote", x: W / 2, y: drawingH - PAD + 4 + (i + 1) * FOOT_LINE - 3, "text-anchor": "middle" },
        `Also: ${line}.`
      )
    )
  )

  const nodeEls = new Map<State, SVGGElement>()
  for (const s of model.states) {
    const b = box(s)
    // RFC 1939's own three states stand apart from the moments the library tracks between them.
    const g = svg(
      "g",
      { class: RFC_STATES.includes(s) ? "node rfc" : "node", "data-state": s },
      svg("rect", { x: b.x, y: b.y, width: b.w, height: NODE_H, rx: 6 }),
      svg("text", { x: b.x + b.w / 2, y: b.y + NODE_H / 2 + 4, "text-anchor": "middle" }, s)
    )
    nodeEls.set(s, g)
    root.append(g)
  }

  const stateList = h("ul", { class: "state-list" })
  const describe = (s: State): HTMLLIElement => {
    const out = model.drawn.filter((e) => e.from === s).map((e) => `${edgeLabel(e)} → ${e.to}`)
    const stays = model.stays.get(s) ?? []
    return h(
      "li",
      { "data-state": s },
      h("strong", {}, s),
      allowed[s].length > 0 ? h("span", {}, ` may send ${allowed[s].join(", ")}.`) : h("span", {}, " sends nothing."),
      out.length > 0 ? h("span", {}, ` ${out.join("; ")}.`) : null,
      stays.length > 0 ? h("span", { class: "muted" }, ` Stays after ${stays.join(", ")}.`) : null
    )
  }
  replace(stateList, ...model.states.map(describe))
  const notes = h(
    "p",
    { class: "diagram-notes" },
    [
      ...[...model.exits, ...model.summarized].map((e) => `${e.from} → ${e.to} on ${edgeDetail(e)}.`),
      ...model.rules.map((r) => `Any state → ${r.to} on “${onText(r.on)}”.`)
    ].join(" ")
  )
  const status = h("p", { class: "diagram-status", "aria-live": "polite" }, "Not connected.")
  const element = h(
    "figure",
    { class: "diagram-figure" },
    root,
    h(
      "figcaption",
      {},
      status,
      h(
        "p",
        { class: "diagram-legend" },
        "Drawn from the library's transition table. Solid arrows lead on; dashed ones return to an earlier state (a refusal, or TLS coming up). Hover an arrow for its rows. Thick boxes are RFC 1939's three states; the others are moments the library tracks between them."
      ),
      h("details", { class: "states-text" }, h("summary", {}, "The table as text"), stateList, notes)
    )
  )

  let current: State | undefined
  return {
    element,
    setCurrent: (state, from) => {
      current = state
      for (const [s, el] of nodeEls) el.classList.toggle("current", s === state)
      for (const [key, el] of edgeEls) {
        const taken = from !== undefined && key === `${from} ${state}`
        el.classList.toggle("taken", taken)
        el.querySelector("path")?.setAttribute("marker-end", taken ? "url(#arrow-on)" : "url(#arrow)")
      }
      status.textContent =
        current === undefined
          ? "Not connected."
          : `Now in ${current}${from !== undefined ? ` (from ${from})` : ""}. ${allowed[current].length > 0 ? `May send: ${allowed[current].join(", ")}.` : "No command may be sent now."}`
    },
    setAllowing: (states) => {
      for (const [s, el] of nodeEls) el.classList.toggle("allowing", states.includes(s))
    }
  }
}

/**
 * (Kept in the embedding module: the model's known-answer gate ranks these; the tests' corpus
 * fixtures build their documents from them.)
 *
 * Documents on clearly different topics, a few paragraphs each, with a question whose answer
 * is in exactly one of them: a semantic search test can expect that document first.
 * ASCII only, so every format (a PDF's standard font included) can hold them.
 */

export interface Topic {
  /** File name stem. */
  slug: string;
  title: string;
  paragraphs: string[];
  /** A question only this document answers, worded differently from its text. */
  query: string;
}

export const TOPICS: readonly Topic[] = [
  {
    slug: "honeybees",
    title: "How a Honeybee Colony Works",
    paragraphs: [
      "A honeybee colony is a single family of tens of thousands of sterile female workers, a few hundred male drones and one queen who lays up to two thousand eggs a day. The workers change jobs as they age: young bees clean cells and feed larvae, middle-aged bees build wax comb and guard the entrance, and the oldest fly out to forage.",
      "A forager that finds a rich patch of flowers returns to the hive and performs the waggle dance on the vertical comb. The angle of the waggle run relative to straight up shows the direction of the flowers relative to the sun, and the length of the run tells her sisters how far they must fly.",
      "Nectar is passed from bee to bee, evaporated by fanning wings until it thickens, and sealed under wax caps as honey. In winter the colony forms a tight cluster and shivers its flight muscles to keep the queen warm, living on the honey stored during summer.",
    ],
    query: "How do bees communicate the location of food to the rest of the hive?",
  },
  {
    slug: "volcanoes",
    title: "Why Volcanoes Erupt",
    paragraphs: [
      "Volcanoes form where molten rock from the mantle rises through the crust. Most of them line the boundaries of tectonic plates: where an oceanic plate dives beneath a continent, water released from the sinking slab lowers the melting point of the rock above it and magma is born.",
      "Whether an eruption is gentle or explosive depends on the magma. Runny basaltic magma lets dissolved gas escape easily, so lava fountains and flows for kilometres, as in Hawaii. Thick, silica-rich magma traps the gas until the pressure shatters the rock and the volcano blasts ash and pumice high into the stratosphere.",
      "Pyroclastic flows, avalanches of hot gas and rock fragments, are the deadliest hazard. They destroyed Pompeii in the year 79 and still move faster than anyone can run. Volcanologists watch restless mountains with seismometers, tiltmeters and gas sensors to warn people in time.",
    ],
    query: "What makes some eruptions violent and explosive while others are calm lava flows?",
  },
  {
    slug: "sourdough",
    title: "Baking Sourdough Bread",
    paragraphs: [
      "Sourdough bread rises without commercial yeast. A starter, a paste of flour and water, hosts wild yeasts and lactic acid bacteria that ferment the dough, produce carbon dioxide and give the loaf its tangy flavour and chewy crumb.",
      "To keep a starter alive, feed it regularly: discard part of it and mix the rest with fresh flour and water, then leave it at room temperature until it doubles. A starter kept in the refrigerator needs feeding only once a week.",
      "A typical loaf is mixed from flour, water, salt and active starter, folded a few times during a long first rise, shaped, proofed overnight in the fridge and baked in a very hot covered pot so the steam lets the crust expand before it browns.",
    ],
    query: "How often should I feed the culture I use to leaven my homemade bread?",
  },
  {
    slug: "chess-openings",
    title: "Principles of Chess Openings",
    paragraphs: [
      "The opening is the first phase of a chess game, when both players bring their pieces into play. Good openings follow a few principles: occupy or control the centre squares, develop knights and bishops quickly, castle early to protect the king and avoid moving the same piece twice.",
      "The Ruy Lopez begins with king pawn to e4, answered by e5, then knight to f3 attacking the pawn and bishop to b5 pinning pressure on the defending knight. The Sicilian Defence answers e4 with c5 and leads to sharp, unbalanced positions favoured by attacking players.",
      "Grandmasters memorise long sequences of opening theory, but club players gain more by understanding why the moves work: which pawn structures arise, where the pieces belong and which plans suit the middlegame that follows.",
    ],
    query: "Which moves should a player make at the start of a game of chess?",
  },
  {
    slug: "kubernetes",
    title: "Running Containers with Kubernetes",
    paragraphs: [
      "Kubernetes is an orchestration system that runs containerised applications across a cluster of machines. You describe the desired state, for example three replicas of a web server, and the control plane works continuously to make the cluster match that description.",
      "The smallest unit Kubernetes schedules is a pod, one or more containers sharing a network namespace. A Deployment manages a set of identical pods: when a container crashes or a node fails, the controller notices the missing replica and starts a replacement on a healthy node.",
      "Services give pods a stable address and spread traffic across them, while liveness and readiness probes tell the kubelet when a container must be restarted or should stop receiving requests.",
    ],
    query: "How does the orchestrator recover when one of my application's containers dies?",
  },
  {
    slug: "roman-aqueducts",
    title: "The Aqueducts of Ancient Rome",
    paragraphs: [
      "Ancient Rome was supplied by eleven aqueducts built over five centuries. They carried water from springs in the hills, sometimes more than ninety kilometres away, using nothing but gravity and a gentle, carefully surveyed downhill gradient.",
      "Most of each channel ran underground or along the contour of the land. Where it had to cross a valley, engineers raised it on arcades of stone arches, the structures that still stand at the Pont du Gard in southern France and at Segovia in Spain.",
      "Inside the city the water flowed into settling tanks and distribution castles, then through lead pipes to public fountains, bathhouses and the homes of the wealthy. Frontinus, the water commissioner, wrote a treatise on the system around the year 97.",
    ],
    query: "How did the Romans transport water from distant springs into their capital?",
  },
  {
    slug: "marathon-training",
    title: "Training for a First Marathon",
    paragraphs: [
      "Preparing for a first marathon takes about four to five months of gradually increasing mileage. Most plans build around one long run each weekend that grows from ten kilometres to about thirty-two, with easy runs during the week.",
      "Run most miles at a conversational pace, add one session of intervals or tempo running for speed, and increase weekly distance by no more than about ten percent to avoid injuries such as shin splints and stress fractures.",
      "In the last three weeks, taper: cut the distance while keeping some intensity so the legs arrive fresh. On race day start slower than feels necessary, drink at the aid stations and eat carbohydrate gels to avoid hitting the wall.",
    ],
    query: "What weekly schedule helps a beginner get ready for a 42 kilometre race?",
  },
];

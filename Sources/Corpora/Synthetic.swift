import Foundation
import Support

/// The bundled synthetic multi-domain corpus: invented brands and product listings in four
/// shopping domains, and user sequences with learnable structure (brand and colour affinity,
/// a personal set of product needs, complementary purchases, Zipf popularity), so that a
/// sequence model measurably beats MostPop. Fully determined by `Config` (seeded).
public enum SyntheticCorpus {
    public struct Config: Codable, Equatable, Sendable {
        public var seed: UInt64 = 7
        public var usersPerDomain = 1500
        public var itemsPerDomain = 800
        public var brandsPerDomain = 16
        /// Mean extra items beyond the minimum of 5 per user (geometric).
        public var meanExtraLength = 4.0
        public var maxLength = 30
        /// Next item is a complement of the previous item's product type with this probability…
        public var complementProbability = 0.5
        /// …else one of the user's own product needs with this probability, else anything popular.
        public var needProbability = 0.35
        /// Weight multiplier for the user's favourite brands and colour.
        public var brandAffinity = 12.0
        public var colorAffinity = 3.0
        /// Zipf exponent of item popularity.
        public var popularityExponent = 0.7

        public init() {}
    }

    /// A product type: `Name|Category path|materials|sizes|min-max price|complements`.
    static let domainSpecs: [(name: String, types: [String])] = [
        ("kitchen", [
            "Chef Knife|Home & Kitchen, Cutlery, Chef's Knives|Stainless Steel,High-Carbon Steel,Damascus Steel|6 Inch,8 Inch,10 Inch|18-140|Cutting Board,Knife Sharpener",
            "Cutting Board|Home & Kitchen, Kitchen Utensils, Cutting Boards|Bamboo,Maple Wood,Plastic|Small,Large,Set of 3|12-60|Chef Knife,Kitchen Towels",
            "Knife Sharpener|Home & Kitchen, Cutlery, Sharpeners|Ceramic,Diamond,Whetstone|Compact,2-Stage,3-Stage|10-55|Chef Knife",
            "Frying Pan|Home & Kitchen, Cookware, Skillets|Cast Iron,Nonstick,Stainless Steel|8 Inch,10 Inch,12 Inch|20-110|Spatula,Pan Lid",
            "Spatula|Home & Kitchen, Kitchen Utensils, Turners|Silicone,Wooden,Stainless Steel|Single,Set of 2,Set of 4|6-25|Frying Pan,Mixing Bowl",
            "Pan Lid|Home & Kitchen, Cookware, Lids|Tempered Glass,Stainless Steel|10 Inch,12 Inch,Universal|10-35|Frying Pan",
            "Mixing Bowl|Home & Kitchen, Bakeware, Mixing Bowls|Glass,Stainless Steel,Ceramic|Set of 3,Set of 5,Large|15-70|Whisk,Measuring Cups",
            "Whisk|Home & Kitchen, Kitchen Utensils, Whisks|Stainless Steel,Silicone|10 Inch,12 Inch,Set of 3|5-20|Mixing Bowl",
            "Measuring Cups|Home & Kitchen, Kitchen Utensils, Measuring Tools|Stainless Steel,Plastic,Glass|Set of 4,Set of 6|7-30|Mixing Bowl,Whisk",
            "Coffee Grinder|Home & Kitchen, Coffee & Tea, Grinders|Burr,Blade,Manual|Compact,Standard|25-160|French Press,Coffee Filters",
            "French Press|Home & Kitchen, Coffee & Tea, French Presses|Glass,Stainless Steel|12 oz,34 oz,50 oz|18-70|Coffee Grinder",
            "Coffee Filters|Home & Kitchen, Coffee & Tea, Filters|Paper,Reusable Mesh|100 Count,200 Count,Pack of 2|5-18|Coffee Grinder,French Press",
            "Kitchen Towels|Home & Kitchen, Kitchen Linens, Towels|Cotton,Microfiber,Linen|Pack of 4,Pack of 8|9-32|Cutting Board",
            "Food Storage Containers|Home & Kitchen, Storage, Food Containers|Glass,BPA-Free Plastic|Set of 5,Set of 10,Set of 24|15-60|Mixing Bowl",
        ]),
        ("outdoors", [
            "Tent|Sports & Outdoors, Camping, Tents|Nylon,Polyester,Canvas|2-Person,4-Person,6-Person|60-420|Sleeping Bag,Sleeping Pad,Tent Stakes",
            "Sleeping Bag|Sports & Outdoors, Camping, Sleeping Bags|Down,Synthetic Fill|Regular,Long,Kids|35-260|Sleeping Pad,Camping Pillow",
            "Sleeping Pad|Sports & Outdoors, Camping, Sleeping Pads|Self-Inflating,Foam,Air|Regular,Wide,Long|25-150|Sleeping Bag,Camping Pillow",
            "Camping Pillow|Sports & Outdoors, Camping, Pillows|Inflatable,Memory Foam|Compact,Large|12-40|Sleeping Bag",
            "Tent Stakes|Sports & Outdoors, Camping, Tent Accessories|Aluminum,Titanium,Steel|Pack of 8,Pack of 12|8-35|Tent",
            "Headlamp|Sports & Outdoors, Camping, Lighting|Rechargeable,AAA Battery|200 Lumens,400 Lumens,800 Lumens|12-70|Lantern,Batteries",
            "Lantern|Sports & Outdoors, Camping, Lanterns|LED,Solar,Rechargeable|Compact,Standard|15-65|Headlamp",
            "Hiking Backpack|Sports & Outdoors, Hiking, Backpacks|Ripstop Nylon,Polyester|30 L,45 L,65 L|40-260|Water Bottle,Rain Cover,Trekking Poles",
            "Water Bottle|Sports & Outdoors, Hydration, Bottles|Stainless Steel,BPA-Free Plastic,Aluminum|20 oz,32 oz,40 oz|10-45|Water Filter,Hiking Backpack",
            "Water Filter|Sports & Outdoors, Hydration, Filters|Hollow Fiber,Carbon|Straw,Squeeze,Pump|18-110|Water Bottle",
            "Rain Cover|Sports & Outdoors, Hiking, Pack Covers|Waterproof Nylon,Silnylon|Medium,Large|10-35|Hiking Backpack",
            "Trekking Poles|Sports & Outdoors, Hiking, Poles|Aluminum,Carbon Fiber|Pair,Collapsible Pair|25-150|Hiking Backpack",
            "Batteries|Sports & Outdoors, Accessories, Batteries|Alkaline,Lithium,NiMH Rechargeable|Pack of 8,Pack of 24|8-40|Headlamp,Lantern",
            "Camp Stove|Sports & Outdoors, Camping, Stoves|Propane,Butane,Wood-Burning|Single Burner,Double Burner|30-180|Cookware Set,Fuel Canister",
            "Cookware Set|Sports & Outdoors, Camping, Cookware|Titanium,Hard-Anodized Aluminum|1-Person,2-Person,4-Person|20-120|Camp Stove",
            "Fuel Canister|Sports & Outdoors, Camping, Fuel|Isobutane,Propane|100 g,230 g,450 g|6-25|Camp Stove",
        ]),
        ("pets", [
            "Dog Food|Pet Supplies, Dogs, Food, Dry|Grain-Free,Chicken Recipe,Salmon Recipe|5 lb,15 lb,30 lb|15-90|Dog Treats,Dog Bowl",
            "Dog Treats|Pet Supplies, Dogs, Treats|Chicken,Beef,Peanut Butter|6 oz,16 oz,32 oz|5-30|Dog Food,Training Clicker",
            "Dog Bowl|Pet Supplies, Dogs, Feeding, Bowls|Stainless Steel,Ceramic,Silicone|Small,Medium,Large|8-40|Dog Food,Bowl Mat",
            "Bowl Mat|Pet Supplies, Feeding, Mats|Silicone,Rubber|Medium,Large|7-22|Dog Bowl,Cat Bowl",
            "Dog Leash|Pet Supplies, Dogs, Collars & Leashes|Nylon,Leather,Reflective Rope|4 ft,6 ft,Retractable 16 ft|9-45|Dog Collar,Poop Bags",
            "Dog Collar|Pet Supplies, Dogs, Collars|Nylon,Leather|Small,Medium,Large|8-40|Dog Leash",
            "Poop Bags|Pet Supplies, Dogs, Waste Bags|Biodegradable,Scented|120 Count,300 Count,540 Count|6-25|Dog Leash",
            "Training Clicker|Pet Supplies, Dogs, Training|Plastic,Aluminum|Single,Pack of 2|4-15|Dog Treats",
            "Cat Litter|Pet Supplies, Cats, Litter|Clumping Clay,Pine,Silica Crystal|10 lb,20 lb,40 lb|10-45|Litter Box,Litter Scoop",
            "Litter Box|Pet Supplies, Cats, Litter Boxes|Plastic,Stainless Steel|Standard,Large,Covered|18-120|Cat Litter,Litter Scoop",
            "Litter Scoop|Pet Supplies, Cats, Litter Accessories|Plastic,Metal|Standard,Large|5-20|Cat Litter",
            "Cat Food|Pet Supplies, Cats, Food|Grain-Free,Chicken Recipe,Tuna Recipe|3 lb,7 lb,16 lb|12-70|Cat Treats,Cat Bowl",
            "Cat Treats|Pet Supplies, Cats, Treats|Chicken,Salmon,Catnip|2 oz,6 oz|4-18|Cat Food,Cat Toy",
            "Cat Bowl|Pet Supplies, Cats, Feeding|Ceramic,Stainless Steel|Single,Set of 2|8-30|Cat Food,Bowl Mat",
            "Cat Toy|Pet Supplies, Cats, Toys|Feather Wand,Plush,Interactive Ball|Single,Pack of 5|5-30|Scratching Post,Cat Treats",
            "Scratching Post|Pet Supplies, Cats, Furniture|Sisal,Cardboard|24 Inch,32 Inch,Cat Tree|18-150|Cat Toy",
        ]),
        ("stationery", [
            "Notebook|Office Products, Paper, Notebooks|Dotted,Lined,Grid|A5,B5,A4|6-35|Gel Pen,Fountain Pen,Highlighters",
            "Gel Pen|Office Products, Writing Instruments, Gel Pens|0.5 mm,0.7 mm,1.0 mm|Pack of 6,Pack of 12,Pack of 24|5-25|Notebook,Pen Case",
            "Fountain Pen|Office Products, Writing Instruments, Fountain Pens|Fine Nib,Medium Nib,Broad Nib|Single,Gift Set|15-180|Ink Bottle,Notebook",
            "Ink Bottle|Office Products, Writing Instruments, Ink|Dye-Based,Pigment|30 ml,50 ml|8-30|Fountain Pen",
            "Highlighters|Office Products, Writing Instruments, Highlighters|Chisel Tip,Dual Tip,Pastel|Pack of 6,Pack of 12|4-18|Notebook,Sticky Notes",
            "Sticky Notes|Office Products, Paper, Sticky Notes|Standard,Super Sticky,Lined|3x3 Inch,Pack of 12,Pack of 24|5-25|Highlighters,Desk Organizer",
            "Pen Case|Office Products, Organizers, Pencil Cases|Canvas,Leather,Silicone|Small,Large|8-40|Gel Pen,Fountain Pen",
            "Desk Organizer|Office Products, Desk Accessories, Organizers|Bamboo,Mesh Metal,Acrylic|3 Compartments,5 Compartments|12-55|Sticky Notes,Stapler",
            "Stapler|Office Products, Office Supplies, Staplers|Metal,Plastic|Standard,Heavy Duty,Electric|8-60|Staples,Desk Organizer",
            "Staples|Office Products, Office Supplies, Staples|Standard,Heavy Duty|1000 Count,5000 Count|3-15|Stapler",
            "Planner|Office Products, Calendars & Planners|Weekly,Daily,Undated|A5,B5|12-45|Gel Pen,Sticky Notes",
            "Sketchbook|Office Products, Art Supplies, Sketchbooks|Mixed Media,Drawing Paper,Watercolor Paper|A5,A4,9x12 Inch|8-40|Drawing Pencils,Eraser",
            "Drawing Pencils|Office Products, Art Supplies, Pencils|Graphite,Charcoal,Colored|Set of 12,Set of 24,Set of 48|8-60|Sketchbook,Eraser",
            "Eraser|Office Products, Art Supplies, Erasers|Vinyl,Kneaded|Pack of 3,Pack of 6|3-12|Drawing Pencils",
        ]),
    ]

    static let colors = ["Black", "White", "Gray", "Blue", "Red", "Green", "Navy", "Teal"]
    static let syllables = ["ka", "lo", "ven", "tor", "mi", "sa", "rex", "bel", "no", "quin", "dar", "vo", "lux", "ta", "ri",
                            "zen", "mo", "fen", "pa", "cor", "ly", "ster", "gra", "hol", "ne", "vik", "ar", "sol", "tes", "um"]
    static let idAlphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")

    struct ProductType {
        var name: String
        var categories: String
        var materials: [String]
        var sizes: [String]
        var price: ClosedRange<Double>
        var complements: [String]

        init(_ spec: String) {
            let p = spec.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
            precondition(p.count == 6, "bad product type spec \(spec)")
            name = p[0]
            categories = p[1]
            materials = p[2].split(separator: ",").map(String.init)
            sizes = p[3].split(separator: ",").map(String.init)
            let r = p[4].split(separator: "-").map { Double($0)! }
            price = r[0] ... r[1]
            complements = p[5].split(separator: ",").map(String.init)
        }
    }

    struct Item {
        var id: String
        var type: Int
        var brand: Int
        var color: Int
        var fields: [TextField]
    }

    static func uniform(_ rng: inout SeededGenerator) -> Double { Double(rng.next() >> 11) * (1.0 / 9_007_199_254_740_992.0) }

    static func choose(_ weights: [Double], _ rng: inout SeededGenerator) -> Int {
        let total = weights.reduce(0, +)
        precondition(total > 0, "no positive weight")
        var x = uniform(&rng) * total
        for (i, w) in weights.enumerated() {
            x -= w
            if x < 0 { return i }
        }
        return weights.lastIndex { $0 > 0 }!
    }

    /// Generates all domains (in the order kitchen, outdoors, pets, stationery).
    public static func generate(_ config: Config) throws -> [Domain] {
        guard config.usersPerDomain >= 1, config.itemsPerDomain >= 20, config.brandsPerDomain >= 2, config.maxLength >= 5 else {
            throw CorporaError.invalidArgument("synthetic corpus needs ≥ 1 user, ≥ 20 items, ≥ 2 brands per domain and max length ≥ 5")
        }
        var rng = SeededGenerator(seed: config.seed)
        var usedIDs = Set<String>()
        var usedBrands = Set<String>()
        var domains: [Domain] = []
        for spec in domainSpecs {
            var drng = rng.fork()
            domains.append(generateDomain(spec.name, spec.types.map(ProductType.init), config, &drng, &usedIDs, &usedBrands))
        }
        return domains
    }

    static func generateDomain(_ name: String, _ types: [ProductType], _ config: Config, _ rng: inout SeededGenerator,
                               _ usedIDs: inout Set<String>, _ usedBrands: inout Set<String>) -> Domain {
        // Brands: invented names, a price tier and the product types each one makes.
        var brands: [(name: String, tier: Double, types: Set<Int>)] = []
        while brands.count < config.brandsPerDomain {
            let parts = 2 + Int(rng.next() % 2)
            var n = (0 ..< parts).map { _ in syllables[Int(rng.next() % UInt64(syllables.count))] }.joined()
            n = n.prefix(1).uppercased() + n.dropFirst()
            guard n.count >= 4, n.count <= 10, !usedBrands.contains(n) else { continue }
            usedBrands.insert(n)
            let tier = [0.7, 1.0, 1.5][Int(rng.next() % 3)]
            var made = Set<Int>()
            for t in types.indices where uniform(&rng) < 0.45 { made.insert(t) }
            if made.isEmpty { made.insert(Int(rng.next() % UInt64(types.count))) }
            brands.append((n, tier, made))
        }
        // Every type must have a maker.
        for t in types.indices where !brands.contains(where: { $0.types.contains(t) }) {
            brands[Int(rng.next() % UInt64(brands.count))].types.insert(t)
        }

        var items: [Item] = []
        var titles = Set<String>()
        var attempts = 0
        while items.count < config.itemsPerDomain, attempts < config.itemsPerDomain * 50 {
            attempts += 1
            let t = Int(rng.next() % UInt64(types.count))
            let makers = brands.indices.filter { brands[$0].types.contains(t) }
            let b = makers[Int(rng.next() % UInt64(makers.count))]
            let type = types[t]
            let material = type.materials[Int(rng.next() % UInt64(type.materials.count))]
            let size = type.sizes[Int(rng.next() % UInt64(type.sizes.count))]
            let color = Int(rng.next() % UInt64(colors.count))
            let title = "\(brands[b].name) \(material) \(type.name), \(size), \(colors[color])"
            guard !titles.contains(title) else { continue }
            titles.insert(title)
            var id: String
            repeat {
                id = "S0" + String((0 ..< 8).map { _ in idAlphabet[Int(rng.next() % UInt64(idAlphabet.count))] })
            } while usedIDs.contains(id)
            usedIDs.insert(id)
            let base = type.price.lowerBound + uniform(&rng) * (type.price.upperBound - type.price.lowerBound)
            let price = (base * brands[b].tier).rounded(.down) + 0.99
            let fields = [
                TextField("title", title),
                TextField("brand", brands[b].name),
                TextField("categories", type.categories),
                TextField("price", String(format: "$%.2f", price)),
                TextField("description", "\(material) \(type.name.lowercased()) by \(brands[b].name) in \(colors[color].lowercased()), \(size.lowercased())."),
            ]
            items.append(Item(id: id, type: t, brand: b, color: color, fields: fields))
        }

        // Zipf popularity over a random permutation of items.
        var order = Array(items.indices)
        order.shuffle(using: &rng)
        var popularity = [Double](repeating: 0, count: items.count)
        for (rank, i) in order.enumerated() { popularity[i] = 1 / pow(Double(rank + 1), config.popularityExponent) }
        let itemsOfType = types.indices.map { t in items.indices.filter { items[$0].type == t } }
        let typeIndex = Dictionary(uniqueKeysWithValues: types.enumerated().map { ($1.name, $0) })
        let typePopularity = types.indices.map { t in itemsOfType[t].reduce(0) { $0 + popularity[$1] } }

        var users: [String] = []
        var sequences: [[Int]] = []
        for u in 0 ..< config.usersPerDomain {
            // A user: two favourite brands, a favourite colour, 3 product needs.
            let favourites = Set((0 ..< 2).map { _ in Int(rng.next() % UInt64(brands.count)) })
            let favouriteColor = Int(rng.next() % UInt64(colors.count))
            let needs = (0 ..< 3).map { _ in choose(typePopularity, &rng) }
            var length = 5
            while length < config.maxLength, uniform(&rng) > 1 / (1 + config.meanExtraLength) { length += 1 }
            var sequence: [Int] = []
            var had = Set<Int>()
            func pick(type t: Int) -> Int? {
                let candidates = itemsOfType[t]
                guard !candidates.isEmpty else { return nil }
                let weights = candidates.map { i -> Double in
                    // Square root: within a type, taste matters more than popularity.
                    var w = popularity[i].squareRoot()
                    if favourites.contains(items[i].brand) { w *= config.brandAffinity }
                    if items[i].color == favouriteColor { w *= config.colorAffinity }
                    if had.contains(i) { w *= 0.02 }
                    return w
                }
                return candidates[choose(weights, &rng)]
            }
            while sequence.count < length {
                var next: Int?
                let r = uniform(&rng)
                if let last = sequence.last, r < config.complementProbability {
                    let complements = types[items[last].type].complements.compactMap { typeIndex[$0] }
                    if !complements.isEmpty { next = pick(type: complements[Int(rng.next() % UInt64(complements.count))]) }
                } else if r < config.complementProbability + config.needProbability {
                    next = pick(type: needs[Int(rng.next() % UInt64(needs.count))])
                }
                if next == nil { next = choose(popularity.enumerated().map { had.contains($0.offset) ? 0.02 * $0.element : $0.element }, &rng) }
                sequence.append(next!)
                had.insert(next!)
            }
            users.append(String(format: "%@_u%05d", name, u + 1))
            sequences.append(sequence)
        }
        let catalog = Catalog(items: items.map { ($0.id, $0.fields) })
        return Domain(name: name, catalog: catalog, interactions: Interactions(users: users, sequences: sequences),
                      report: ImportReport(format: .idgenrec, files: []))
    }

    /// Writes each domain in the IDGenRec layout under `folder/<domain>/`, plus `config.json`
    /// and a README saying the data is synthetic and how to regenerate it.
    public static func write(_ domains: [Domain], config: Config, to folder: URL) throws {
        for d in domains { try IDGenRecWriter.write(d, to: folder.appendingPathComponent(d.name)) }
        try AtomicFile.writeJSON(config, to: folder.appendingPathComponent("config.json"))
        var readme = """
        # Synthetic multi-domain corpus (generated, not real data)

        Invented brands and product listings in \(domains.count) shopping domains, with user sequences
        drawn from a known process: each user has two favourite brands, a favourite colour and
        three product needs; the next item is a complement of the previous item's product type
        (p = \(config.complementProbability)), one of the user's needs (p = \(config.needProbability)), or
        any item by Zipf popularity; within a type, items are weighted by √popularity ×
        \(config.brandAffinity) for a favourite brand × \(config.colorAffinity) for the favourite colour.
        A sequence model should beat MostPop here. Sequences are in purchase order (no timestamps).

        Regenerate (deterministic): `idgenrec data synth --out corpora/synthetic --seed \(config.seed)`
        (settings in `config.json`). Layout per domain: IDGenRec / P5 (`user_sequence.txt`,
        `item_plain_text.txt`).

        | domain | users | items | interactions |
        |---|---|---|---|

        """
        for d in domains { readme += "| \(d.name) | \(d.interactions.userCount) | \(d.catalog.count) | \(d.interactions.interactionCount) |\n" }
        try AtomicFile.write(readme, to: folder.appendingPathComponent("README.md"))
    }
}

"""Reference data and row builders for the demo generator: what realistic values look like.

The generator module decides how many rows there are and which ones are broken; this module only
knows how an Indian marketplace's customers, products, timestamps and broken values look.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

import numpy as np

DAY_SECONDS = 86_400
BATCH_END = 1_800  # nightly batch loads (catalog, initial customer base) finish before 00:30 IST
ORDER_START, ORDER_END = 1_800, 85_800  # orders are placed between 00:30 and 23:50 IST
LATEST_UPDATE = 86_100  # a base version leaves room for a later version the same day
IST_SHIFT = 19_800  # seconds between UTC and IST: 18:30Z is the IST day boundary

NULL_TOKENS = ("", "NA", "N/A", "null")
PADS = ("{}", "  {} ", " {}", "{}  ")  # variant 0 is unpadded

FIRST_NAMES = [
    "Aarav",
    "Vivaan",
    "Aditya",
    "Arjun",
    "Rohan",
    "Rahul",
    "Amit",
    "Vikram",
    "Karthik",
    "Sai",
    "Arnav",
    "Ishaan",
    "Manish",
    "Suresh",
    "Rajesh",
    "Anil",
    "Sandeep",
    "Nikhil",
    "Pranav",
    "Harsh",
    "Farhan",
    "Imran",
    "Gurpreet",
    "Siddharth",
    "Deepak",
    "Priya",
    "Ananya",
    "Diya",
    "Isha",
    "Kavya",
    "Meera",
    "Neha",
    "Pooja",
    "Riya",
    "Sneha",
    "Divya",
    "Lakshmi",
    "Aishwarya",
    "Shreya",
    "Nandini",
    "Fatima",
    "Zoya",
    "Harpreet",
    "Anjali",
    "Sunita",
    "Kiran",
    "Swati",
    "Tanvi",
    "Aditi",
    "Gayatri",
]
LAST_NAMES = [
    "Sharma",
    "Verma",
    "Gupta",
    "Singh",
    "Kumar",
    "Patel",
    "Shah",
    "Mehta",
    "Iyer",
    "Iyengar",
    "Nair",
    "Menon",
    "Reddy",
    "Rao",
    "Naidu",
    "Chatterjee",
    "Banerjee",
    "Mukherjee",
    "Das",
    "Bose",
    "Ghosh",
    "Joshi",
    "Kulkarni",
    "Deshpande",
    "Patil",
    "Jadhav",
    "Pillai",
    "Krishnan",
    "Subramanian",
    "Agarwal",
    "Jain",
    "Malhotra",
    "Kapoor",
    "Khanna",
    "Chopra",
    "Bhat",
    "Hegde",
    "Shetty",
    "Khan",
    "Ahmed",
    "Qureshi",
    "Sandhu",
    "Gill",
    "Dhillon",
    "Mishra",
    "Tiwari",
    "Pandey",
    "Yadav",
    "Chauhan",
    "Rathore",
]
PLACES = (
    ("Mumbai", "Maharashtra"), ("Pune", "Maharashtra"), ("Nagpur", "Maharashtra"),
    ("Bengaluru", "Karnataka"), ("Mysuru", "Karnataka"), ("Chennai", "Tamil Nadu"),
    ("Coimbatore", "Tamil Nadu"), ("Kolkata", "West Bengal"), ("Hyderabad", "Telangana"),
    ("Jaipur", "Rajasthan"), ("Lucknow", "Uttar Pradesh"), ("Noida", "Uttar Pradesh"),
    ("Ahmedabad", "Gujarat"), ("Surat", "Gujarat"), ("Kochi", "Kerala"),
    ("Thiruvananthapuram", "Kerala"), ("New Delhi", "Delhi"), ("Gurugram", "Haryana"),
    ("Chandigarh", "Chandigarh"), ("Bhopal", "Madhya Pradesh"), ("Indore", "Madhya Pradesh"),
    ("Patna", "Bihar"), ("Bhubaneswar", "Odisha"), ("Guwahati", "Assam"),
    ("Visakhapatnam", "Andhra Pradesh"), ("Ludhiana", "Punjab"),
)  # fmt: skip
PLACE_WEIGHTS = np.array(
    [9, 5, 2, 9, 2, 7, 2, 6, 7, 3, 3, 3, 4, 2, 2, 1, 8, 4, 1, 2, 2, 2, 1, 1, 1, 1]
)
EMAIL_DOMAINS = ("gmail.com", "gmail.com", "gmail.com", "yahoo.co.in", "outlook.com",
                 "rediffmail.com", "hotmail.com")  # fmt: skip
VPA_HANDLES = (
    "okaxis",
    "okhdfcbank",
    "okicici",
    "oksbi",
    "ybl",
    "ybl",
    "ibl",
    "axl",
    "paytm",
    "apl",
)
BANKS = ("State Bank of India", "HDFC Bank", "ICICI Bank", "Axis Bank", "Kotak Mahindra Bank",
         "Punjab National Bank", "Bank of Baroda", "Canara Bank", "Union Bank of India",
         "IDFC FIRST Bank", "Yes Bank", "IndusInd Bank")  # fmt: skip
PAN_HOLDER_TYPES = "PPPPPPPPPPPPCHFATBLJG"  # 4th PAN letter; P (individual) dominates
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
STATUSES = ("placed", "shipped", "delivered", "cancelled", "returned")
CANCELLED = 3
STATUS_TEXT = [p.format(s) for s in STATUSES for p in PADS]  # code = status * 4 + pad
CHANNEL_TEXT = [p.format(c) for c in ("web", "android", "ios") for p in PADS] + list(NULL_TOKENS)
COUPONS = ("", "DIWALI10", "FESTIVE15", "NEWUSER50", "HDFC10", "FREESHIP")

# category -> (brands, items with a typical list price in rupees)
CATEGORIES: dict[str, tuple[tuple[str, ...], tuple[tuple[str, int], ...]]] = {
    "electronics": (
        ("boAt", "Samsung", "Redmi", "OnePlus", "Realme", "Noise", "JBL", "Lenovo"),
        (("Wireless Earbuds", 1_499), ("Bluetooth Speaker", 2_499), ("Smartwatch", 3_999),
         ("Power Bank 10000mAh", 1_299), ("USB-C Charger 33W", 899), ("5G Smartphone", 17_999),
         ("Neckband", 1_199)),
    ),
    "fashion": (
        ("Allen Solly", "Peter England", "Biba", "W", "Fabindia", "Manyavar", "Levi's"),
        (("Cotton Kurta", 899), ("Slim Fit Shirt", 1_299), ("Denim Jeans", 1_799),
         ("Silk Saree", 3_499), ("Running Shoes", 2_299), ("Nehru Jacket", 1_999)),
    ),
    "home": (
        ("Prestige", "Pigeon", "Milton", "Bajaj", "Cello", "Butterfly"),
        (("Pressure Cooker 5L", 2_199), ("Non-stick Tawa", 699), ("Steel Bottle 1L", 449),
         ("Mixer Grinder 750W", 3_299), ("Cotton Bedsheet Double", 999),
         ("Induction Cooktop", 2_599)),
    ),
    "grocery": (
        ("Tata Sampann", "Aashirvaad", "Fortune", "Amul", "India Gate", "Haldiram's", "MDH"),
        (("Basmati Rice 5kg", 649), ("Whole Wheat Atta 10kg", 459), ("Toor Dal 1kg", 179),
         ("Desi Ghee 1L", 629), ("Masala Chai 500g", 289), ("Bhujia 400g", 109),
         ("Garam Masala 100g", 89)),
    ),
    "beauty": (
        ("Lakme", "Himalaya", "Mamaearth", "Biotique", "Nivea", "Plum"),
        (("Neem Face Wash 150ml", 199), ("Kajal", 249), ("Sunscreen SPF 50", 449),
         ("Onion Hair Oil 200ml", 399), ("Aloe Vera Gel", 229), ("Lip Balm", 149)),
    ),
    "books": (
        ("Penguin India", "HarperCollins India", "Rupa", "Arihant"),
        (("The White Tiger", 399), ("Wings of Fire", 299), ("Malgudi Days", 249), ("Godan", 199),
         ("Quantitative Aptitude", 649), ("NCERT Physics Class 12", 229)),
    ),
    "toys": (
        ("Funskool", "Hamleys", "Mattel", "LEGO"),
        (("Ludo and Snakes Board Game", 299), ("Junior Cricket Kit", 1_499),
         ("Building Blocks 200pc", 999), ("Remote Control Car", 1_799), ("Doll House", 2_499)),
    ),
    "sports": (
        ("SG", "SS", "Nivia", "Cosco", "Yonex", "Decathlon"),
        (("English Willow Cricket Bat", 3_999), ("Football Size 5", 799),
         ("Badminton Racquet", 1_299), ("Yoga Mat 6mm", 699), ("Dumbbell Set 10kg", 1_999)),
    ),
}  # fmt: skip


def ist_stamps(day: date) -> list[str]:
    """ISO stamps with +05:30 for every second of an IST day; a lookup beats formatting per row."""
    prefix = day.isoformat()
    return [
        f"{prefix}T{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}+05:30"
        for s in range(DAY_SECONDS)
    ]


def utc_stamps(day: date) -> list[str]:
    """UTC `...Z` stamps for every second of an IST day; before 05:30 IST it is still yesterday."""
    days = ((day - timedelta(days=1)).isoformat(), day.isoformat())
    out = []
    for s in range(DAY_SECONDS):
        u = (s - IST_SHIFT) % DAY_SECONDS
        out.append(f"{days[s >= IST_SHIFT]}T{u // 3600:02d}:{u // 60 % 60:02d}:{u % 60:02d}Z")
    return out


def rupees(paise: int) -> str:
    """Two-decimal INR text from integer paise, so amounts never pick up float noise."""
    return f"{paise // 100}.{paise % 100:02d}"


def pad(value: str, rnd: random.Random, share: float) -> str:
    """Surround a value with stray spaces now and then, as hand-fed exports do."""
    return rnd.choice(PADS[1:]).format(value) if rnd.random() < share else value


def bad_timestamp(day: date, rnd: random.Random, zulu: bool) -> str:
    """A timestamp no ISO parser accepts; the platform must quarantine it as type_mismatch."""
    zone = "Z" if zulu else "+05:30"
    return rnd.choice((f"{day.year}-13-45T99:00:00{zone}", "yesterday", f"31/11/{day.year} 10:00"))


def malformed_email(email: str, rnd: random.Random) -> str:
    """Break an email the way typos do (lost TLD, lost or doubled @)."""
    user, domain = email.split("@")
    return rnd.choice(
        (f"{user}@{domain.split('.')[0]}", f"{user}.{domain}", f"{user}@@{domain}", f"{user}@.com")
    )


def invalid_pan(pan: str, rnd: random.Random) -> str:
    """Break a PAN: truncated, 4th letter Q (no such holder type), or digits first."""
    return rnd.choice((pan[:9], f"{pan[:3]}Q{pan[4:]}", f"{pan[5:9]}{pan[9]}{pan[:5]}"))


class CustomerBase:
    """Every customer ever created, their current profile, and who orders may reference."""

    def __init__(self, rng: np.random.Generator) -> None:
        """Start empty; `rng` drives every attribute so the base is reproducible."""
        self.rng = rng
        self.ids: list[str] = []
        self.names: list[str] = []
        self.emails: list[str] = []
        self.phones: list[str | None] = []
        self.pans: list[str | None] = []
        self.places: list[int] = []
        self.city_known: list[bool] = []
        self.vpas: list[str] = []
        self.banks: list[int] = []
        self.pool: list[int] = []  # orderable customers, in creation order
        self.pool_before_today = 0
        self.today_secs = np.zeros(0, dtype=np.int64)  # creation seconds of today's pool additions

    def _emails(self, firsts: list[str], lasts: list[str]) -> list[str]:
        g, n = self.rng, len(firsts)
        styles = g.integers(5, size=n).tolist()
        numbers = g.integers(1, 100, n).tolist()
        domains = g.integers(len(EMAIL_DOMAINS), size=n).tolist()
        out = []
        for f, last, style, k, d in zip(firsts, lasts, styles, numbers, domains, strict=True):
            user = (f"{f}.{last}", f"{f}{last}{k}", f"{f}_{last}", f"{f}{k}", f"{f[0]}{last}")[
                style
            ]
            out.append(f"{user.lower()}@{EMAIL_DOMAINS[d]}")
        return out

    def _phones(self, count: int) -> list[str]:
        return list(map(str, self.rng.integers(6_000_000_000, 10_000_000_000, count).tolist()))

    def _places(self, count: int) -> list[int]:
        places: list[int] = self.rng.choice(
            len(PLACES), size=count, p=PLACE_WEIGHTS / PLACE_WEIGHTS.sum()
        ).tolist()
        return places

    def create(self, count: int) -> list[int]:
        """Add `count` customers with matching name, email, PAN and UPI id; return their indices."""
        first_index, g = len(self.ids), self.rng
        if first_index + count > 999_999:
            raise ValueError("customer ids are CUST- plus 6 digits; lower orders_per_day or days")
        firsts = [FIRST_NAMES[k] for k in g.integers(len(FIRST_NAMES), size=count).tolist()]
        lasts = [LAST_NAMES[k] for k in g.integers(len(LAST_NAMES), size=count).tolist()]
        phones = self._phones(count)
        phone_style = np.where(g.random(count) < 0.04, 2, g.integers(0, 2, count)).tolist()
        pan_parts = zip(
            ("".join(x) for x in g.choice(list(LETTERS), size=(count, 4)).tolist()),
            g.integers(len(PAN_HOLDER_TYPES), size=count).tolist(),
            g.integers(10_000, size=count).tolist(),
            (g.random(count) < 0.1).tolist(),
            strict=True,
        )
        vpa_style = g.integers(3, size=count).tolist()
        vpa_number = g.integers(1, 100, count).tolist()
        handles = g.integers(len(VPA_HANDLES), size=count).tolist()
        self.emails += self._emails(firsts, lasts)
        self.places += self._places(count)
        self.city_known += (g.random(count) > 0.02).tolist()
        self.banks += g.integers(len(BANKS), size=count).tolist()
        for k, (letters, holder, digits, no_pan) in enumerate(pan_parts):
            first, last, phone = firsts[k], lasts[k], phones[k]
            self.ids.append(f"CUST-{first_index + k + 1:06d}")
            self.names.append(f"{first} {last}")
            self.phones.append(("+91" + phone, phone, None)[phone_style[k]])
            pan = f"{letters[:3]}{PAN_HOLDER_TYPES[holder]}{last[0]}{digits:04d}{letters[3]}"
            self.pans.append(None if no_pan else pan)
            user = (f"{first}.{last}".lower(), phone, f"{first.lower()}{vpa_number[k]}")
            self.vpas.append(f"{user[vpa_style[k]]}@{VPA_HANDLES[handles[k]]}")
        return list(range(first_index, first_index + count))

    def change(self, i: int) -> None:
        """Apply a realistic profile change: a move, a new phone number or a new email."""
        kind = self.rng.random()
        if kind < 0.5:
            self.move(i)
        elif kind < 0.75:
            self.phones[i] = "+91" + self._phones(1)[0]
        else:
            first, last = self.names[i].split(" ", 1)
            self.emails[i] = self._emails([first], [last])[0]

    def move(self, i: int) -> None:
        """Move a customer to another city (the state follows the city)."""
        place = self.places[i]
        while place == self.places[i]:
            place = self._places(1)[0]
        self.places[i], self.city_known[i] = place, True

    def rows(self, indices: list[int], stamps: list[str]) -> list[list[str]]:
        """CSV rows of customers' current profiles, with null tokens and stray spaces sprinkled."""
        g, n = self.rng, len(indices)
        pads = np.where(g.random((n, 3)) < 0.03, g.integers(1, len(PADS), (n, 3)), 0).tolist()
        tokens = g.integers(len(NULL_TOKENS), size=(n, 3)).tolist()
        out = []
        for i, stamp, (p_name, p_city, p_state), (t_phone, t_pan, t_city) in zip(
            indices, stamps, pads, tokens, strict=True
        ):
            city, state = PLACES[self.places[i]]
            out.append(
                [
                    self.ids[i],
                    PADS[p_name].format(self.names[i]),
                    self.emails[i],
                    self.phones[i] or NULL_TOKENS[t_phone],
                    self.pans[i] or NULL_TOKENS[t_pan],
                    PADS[p_city].format(city) if self.city_known[i] else NULL_TOKENS[t_city],
                    PADS[p_state].format(state),
                    stamp,
                ]
            )
        return out

    def admit(self, created: list[tuple[int, int]]) -> None:
        """Make today's cleanly created customers orderable from their creation second on."""
        created = sorted(created)
        self.pool_before_today = len(self.pool)
        self.pool.extend(i for _, i in created)
        self.today_secs = np.array([s for s, _ in created], dtype=np.int64)

    def pick(self, rng: np.random.Generator, order_secs: np.ndarray) -> np.ndarray:
        """Buyers for orders: any customer already created (cleanly) when the order is placed."""
        available = self.pool_before_today + np.searchsorted(self.today_secs, order_secs, "right")
        if available.min() < 1:
            raise ValueError("an order has no customer to reference; raise orders_per_day")
        pool = np.asarray(self.pool, dtype=np.int64)
        return pool[(rng.random(len(order_secs)) * available).astype(np.int64)]


class Catalog:
    """The product catalog and its current prices (in paise)."""

    def __init__(self, rng: np.random.Generator, size: int) -> None:
        """Draw `size` products spread over the categories, with list prices ending in 9."""
        names = list(CATEGORIES)
        self.categories = [names[c] for c in rng.permutation(np.arange(size) % len(names))]
        self.ids = [f"PRD-{10_001 + i:05d}" for i in range(size)]
        self.names, prices = [], []
        for category in self.categories:
            brands, items = CATEGORIES[category]
            item, typical = items[rng.integers(len(items))]
            self.names.append(f"{brands[rng.integers(len(brands))]} {item}")
            prices.append(_list_price(typical * float(rng.uniform(0.7, 1.4))))
        self.prices = np.array(prices, dtype=np.int64)
        weights = 1.0 / (rng.permutation(size) + 5.0)  # a few bestsellers, a long tail
        self.popularity = weights / weights.sum()

    def repriced(self, i: int, rng: np.random.Generator) -> int:
        """A new list price 5-25 % away from the current one (discount or hike)."""
        factor = rng.uniform(0.75, 0.95) if rng.random() < 0.6 else rng.uniform(1.05, 1.25)
        new = _list_price(self.prices[i] / 100 * factor)
        return new if new != self.prices[i] else new + 10_000

    @staticmethod
    def decimal(paise: int) -> Decimal:
        """Exact two-decimal price for the Parquet decimal column."""
        return Decimal(int(paise)).scaleb(-2)

    def pick(self, rng: np.random.Generator, count: int) -> np.ndarray:
        """Products for order lines, skewed towards bestsellers."""
        return rng.choice(len(self.ids), size=count, p=self.popularity)


def _list_price(rupees_value: float) -> int:
    """Round to a retail price like 1,299.00 (in paise), never below 49."""
    return max(49, round(rupees_value / 10) * 10 - 1) * 100


class OrderLines:
    """A day's order lines as numpy columns; rows are rendered file by file, never all at once."""

    def __init__(
        self,
        rng: np.random.Generator,
        ist: list[str],
        count: int,
        first_order: int,
        base: CustomerBase,
        catalog: Catalog,
    ) -> None:
        """Draw orders (1-6 lines each) over the day, their buyers, products and statuses."""
        sizes = rng.choice(np.arange(1, 7), size=count, p=[0.58, 0.22, 0.1, 0.05, 0.03, 0.02])
        ends = np.cumsum(sizes)
        orders = int(np.searchsorted(ends, count)) + 1
        sizes = sizes[:orders]
        sizes[-1] -= int(ends[orders - 1]) - count
        self.starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
        # Per-line columns are int32 so a 10-million-line day stays well under a few GB.
        self.order_of = np.repeat(np.arange(orders, dtype=np.int32), sizes)
        self.line_no = (np.arange(count) - self.starts[self.order_of] + 1).astype(np.int32)
        self.order_num = first_order + np.arange(orders, dtype=np.int64)
        self.order_secs = np.sort(rng.integers(ORDER_START, ORDER_END, orders))
        self.customer = base.pick(rng, self.order_secs)
        self.status = rng.choice(5, size=orders, p=[0.3, 0.3, 0.27, 0.08, 0.05])
        channel = rng.choice(3, size=orders, p=[0.3, 0.55, 0.15])[self.order_of]
        null = (rng.random(orders) < 0.03)[self.order_of]
        self.product = catalog.pick(rng, count).astype(np.int32)
        quantities, shares = [1, 2, 3, 4, 5, 10], [0.7, 0.15, 0.06, 0.04, 0.03, 0.02]
        self.quantity = rng.choice(quantities, size=count, p=shares).astype(np.int32)
        delay = rng.integers(0, 7_200, count) * (self.status[self.order_of] > 0)  # placed: none
        updated = np.minimum(self.order_secs[self.order_of] + delay, LATEST_UPDATE)
        self.updated = updated.astype(np.int32)
        status_code = self.status[self.order_of] * 4 + pad_codes(rng, count, 0.01)
        self.status_code = status_code.astype(np.int32)
        tokens = len(CHANNEL_TEXT) - len(NULL_TOKENS) + rng.integers(0, len(NULL_TOKENS), count)
        channel_code = np.where(null, tokens, channel * 4 + pad_codes(rng, count, 0.01))
        self.channel_code = channel_code.astype(np.int32)
        coupon = np.where(rng.random(count) < 0.12, rng.integers(1, len(COUPONS), count), 0)
        self.coupon = coupon.astype(np.int32)
        self.customer_ids, self.product_ids = base.ids, catalog.ids
        self.prices = [rupees(int(p)) for p in catalog.prices]
        amount = self.quantity * catalog.prices[self.product]
        self.gross = np.add.reduceat(amount, self.starts)
        self.total = np.add.reduceat(
            amount * (self.status[self.order_of] != CANCELLED), self.starts
        )
        self.ist = ist

    def render(self, idx: np.ndarray, coupon: bool) -> list[tuple[str, ...]]:
        """CSV rows for the given line indices (same strings whichever file they land in)."""
        o = self.order_of[idx]
        columns = [
            [f"ORD-{n:08d}" for n in self.order_num[o].tolist()],
            list(map(str, self.line_no[idx].tolist())),
            [self.customer_ids[c] for c in self.customer[o].tolist()],
            [self.product_ids[p] for p in self.product[idx].tolist()],
            list(map(str, self.quantity[idx].tolist())),
            [self.prices[p] for p in self.product[idx].tolist()],
            [STATUS_TEXT[s] for s in self.status_code[idx].tolist()],
            [CHANNEL_TEXT[c] for c in self.channel_code[idx].tolist()],
            [self.ist[s] for s in self.order_secs[o].tolist()],
            [self.ist[s] for s in self.updated[idx].tolist()],
        ]
        if coupon:
            columns.append([COUPONS[c] for c in self.coupon[idx].tolist()])
        return list(zip(*columns, strict=True))


def pad_codes(rng: np.random.Generator, count: int, share: float) -> np.ndarray:
    """Pad variant per row: 0 (none) mostly, else one of the stray-space patterns."""
    return np.where(rng.random(count) < share, rng.integers(1, len(PADS), count), 0)

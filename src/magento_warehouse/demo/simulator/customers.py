"""Customers: accounts (customer_entity), address books (customer_address_entity)
and newsletter subscriptions (newsletter_subscriber), plus the people helpers the
other domains use for guests and order addresses (names, emails as typed,
addresses in each country's format)."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from functools import lru_cache, partial

from .core import SNAPSHOT_MS, Domain, Pool, Row, Shop, plain_ascii, weights
from .reference import STORE_CHOICE, STORE_COUNTRIES, STORES
from .schema import new_row

GENDER_CHOICE = weights((1, 2, 3, None), (35, 40, 5, 20))
GROUP_CHOICE = weights((1, 2, 3), (90, 6, 4))
GUEST_SUBSCRIBER_STATUS = weights((1, 4, 3), (70, 20, 10))

FIRST_NAMES = ("James", "Mary", "José", "Zoë", "Liam", "Olivia", "Noah", "Emma", "Lukas", "Mia",
               "Chloé", "Seán", "Aoife", "Jan", "Sophie", "Mohammed", "Fatima", "Anne-Marie",
               "Björn", "Hannah", "Lucas", "Léa", "Daan", "Emily", "Oliver", "Amelia", "Ethan",
               "Isabella", "Finn", "Ava")
LAST_NAMES = ("Smith", "O'Brien", "Müller", "García", "Johnson", "Dubois", "van der Berg", "Schmidt",
              "Nguyen", "Williams", "Brown", "Martin", "Rossi", "Jansen", "Kowalski", "Fischer",
              "Taylor", "Lefèvre", "Murphy", "Silva", "de Vries", "Weber", "Moreau", "Davies",
              "Clarke", "Becker", "Bakker", "Lambert", "Evans", "Wagner")
COMPANIES = ("Acme, Inc.", "Smith & Sons", "Müller GmbH", '"Blue Sky" Ltd', "Northwind Traders",
             "Dupont et Fils", "Studio 54, LLC")
PLACES: dict[str, tuple[tuple[str, str | None, str], ...]] = {
    "US": (("Austin", "Texas", "787"), ("Seattle", "Washington", "981"), ("Brooklyn", "New York", "112"),
           ("San Diego", "California", "921"), ("Denver", "Colorado", "802"), ("Chicago", "Illinois", "606")),
    "GB": (("London", None, "SW1A"), ("Manchester", None, "M1"), ("Leeds", None, "LS1"), ("Bristol", None, "BS1")),
    "DE": (("Berlin", "Berlin", "10"), ("München", "Bayern", "80"), ("Hamburg", "Hamburg", "20"),
           ("Köln", "Nordrhein-Westfalen", "50")),
    "FR": (("Paris", "Île-de-France", "750"), ("Lyon", "Auvergne-Rhône-Alpes", "690"),
           ("Marseille", "Provence-Alpes-Côte d'Azur", "130")),
    "NL": (("Amsterdam", "Noord-Holland", "10"), ("Utrecht", "Utrecht", "35"), ("Rotterdam", "Zuid-Holland", "30")),
}
PLACE_KEYS = ("city", "company", "country_id", "firstname", "lastname", "postcode", "region", "street", "telephone")
# Street, postcode and telephone formats; '#' is a random digit, '@' a random letter.
ADDRESS_FORMATS = {
    "US": ("{number} {name} St", "{prefix}##", "(###) 555-####"),
    "GB": ("{number} {name} Road", "{prefix} #@@", "+44 20 #### ####"),
    "DE": ("{name}straße {number}", "{prefix}###", "+49 30 ######"),
    "FR": ("{number} rue {name}", "{prefix}##", "0# ## ## ## ##"),
    "NL": ("{name}straat {number}", "{prefix}## @@", "+31 6 ########"),
}
POSTCODE_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
STREET_NAMES = {"US": ("Oak", "Maple", "Park", "Lake", "Washington", "Cedar"),
                "GB": ("Station", "Church", "Victoria", "Mill", "Park"),
                "DE": ("Linden", "Schiller", "Goethe", "Garten", "Berg"),
                "FR": ("de la Paix", "Victor Hugo", "du Moulin", "des Lilas"),
                "NL": ("Kerk", "Molen", "Dorp", "Linden")}
EMAIL_DOMAINS = {"US": ("gmail.com", "yahoo.com", "outlook.com", "icloud.com"),
                 "GB": ("gmail.com", "hotmail.co.uk", "btinternet.com"),
                 "DE": ("gmail.com", "web.de", "gmx.de"),
                 "FR": ("gmail.com", "orange.fr", "free.fr"),
                 "NL": ("gmail.com", "ziggo.nl", "outlook.com")}


@lru_cache(maxsize=None)
def _pattern_parts(pattern: str) -> tuple[str, ...]:
    """A `fill` pattern split into runs of '#', runs of '@' and literal text."""
    return tuple(re.findall(r"#+|@+|[^#@]+", pattern))


class Customers(Domain):
    """Registered customers, their address books and newsletter subscriptions.

    State (shared with the carts, orders and faults domains):
    `customers` and `addresses` by id, `pool`/`address_pool` to draw them from,
    `books` (customer id -> address ids, oldest first), `taken_emails`
    ((website_id, lower-case email) pairs in use), `subscribers` by id,
    `subscriber_of` (customer id -> subscriber id), `subscribed` (subscriber ids
    with status 1) and `guests` (identities of past guest shoppers).
    """

    def __init__(self, shop: Shop) -> None:
        super().__init__(shop)
        self.customers: dict[int, Row] = {}
        self.pool = Pool()
        self.books: dict[int, list[int]] = {}
        self.addresses: dict[int, Row] = {}
        self.address_pool = Pool()
        self.taken_emails: set[tuple[int, str]] = set()
        self.subscribers: dict[int, Row] = {}
        self.subscriber_of: dict[int, int] = {}
        self.subscribed = Pool()
        self.guests: list[tuple[str, str, str, str]] = []  # email, first, last, country

    def pick(self) -> Row | None:
        """A registered customer drawn at random, or None when there is none."""
        return self.customers.get(self.pool.pick(self._random()))

    # -------------------------------------------------------------- people

    def person(self) -> tuple[str, str]:
        return self._pick(FIRST_NAMES), self._pick(LAST_NAMES)

    def email(self, first: str, last: str, country: str) -> str:
        first, last = plain_ascii(first), plain_ascii(last)
        local = self._pick((f"{first}.{last}", f"{first}{last}", f"{first[0]}{last}"))
        if self._chance(0.6):
            local += str(self._int(1, 999))
        return f"{local}@{self._pick(EMAIL_DOMAINS[country])}"

    def as_typed(self, email: str) -> str:
        """Shoppers' spelling of an address: case and stray spaces vary, as in real
        guest checkouts and newsletter forms."""
        roll = self._random()
        if roll < 0.6:
            return email
        if roll < 0.8:
            local, domain = email.split("@")
            return ".".join(part.capitalize() for part in local.split(".")) + "@" + domain.capitalize()
        if roll < 0.9:
            return email.upper()
        return self._pick((f" {email}", f"{email} ", f" {email} "))

    def address_fields(self, country: str, first: str, last: str) -> Row:
        """An address in `country`, in its format (the PLACE_KEYS columns)."""
        city, region, prefix = self._pick(PLACES[country])
        street_format, postcode_pattern, telephone_pattern = ADDRESS_FORMATS[country]
        street = street_format.format(number=self._int(1, 240), name=self._pick(STREET_NAMES[country]))
        if self._chance(0.15):  # Magento keeps street lines newline-separated
            street += "\n" + self._pick(("Apt 4B", "Flat 2", "2nd floor", "c/o Müller"))
        return {"city": city, "company": self._pick(COMPANIES) if self._chance(0.1) else None,
                "country_id": country, "firstname": first, "lastname": last,
                "postcode": self.fill(postcode_pattern).format(prefix=prefix), "region": region,
                "street": street, "telephone": self.fill(telephone_pattern)}

    def fill(self, pattern: str) -> str:
        """`pattern` with each '#' replaced by a random digit and each '@' by a letter."""
        parts = []
        for part in _pattern_parts(pattern):
            if part[0] == "#":
                parts.append(f"{int(self._random() * 10 ** len(part)):0{len(part)}d}")
            elif part[0] == "@":
                parts.append("".join(self._pick(POSTCODE_LETTERS) for _ in part))
            else:
                parts.append(part)
        return "".join(parts)

    def country_of(self, customer: Row) -> str:
        address = self.addresses.get(customer["default_billing"])
        return address["country_id"] if address else STORE_COUNTRIES[customer["store_id"]][0]

    # ----------------------------------------------------------- accounts

    def new_customer(self, created: datetime) -> Row:
        """A registered customer, added to the shop's state (not yet emitted)."""
        store_id = self._weighted(STORE_CHOICE)
        website_id = 1 if store_id == 1 else 2
        country = self._pick(STORE_COUNTRIES[store_id])
        first, last = self.person()
        email = self.email(first, last, country)
        while (website_id, email) in self.taken_emails:
            email = f"{self._int(1, 99)}{email}"
        self.taken_emails.add((website_id, email))
        if self._chance(0.12):  # Magento stores the address as typed
            email = email[0].upper() + email[1:]
        gender = self._weighted(GENDER_CHOICE)
        customer = new_row("customer_entity", {
            "entity_id": self._next_id("customer_entity"), "website_id": website_id, "email": email,
            "group_id": self._weighted(GROUP_CHOICE), "store_id": store_id,
            "created_at": created, "updated_at": created, "is_active": 1,
            "created_in": STORES[store_id]["name"],
            "prefix": self._pick(("Mr.", "Ms.", "Dr.")) if self._chance(0.1) else None,
            "firstname": first, "middlename": self._pick(("A.", "J.", "Marie")) if self._chance(0.05) else None,
            "lastname": last, "suffix": None,
            "dob": date(self._int(1950, 2006), self._int(1, 12), self._int(1, 28)) if self._chance(0.7) else None,
            "gender": gender, "default_billing": None, "default_shipping": None,
        })
        self.customers[customer["entity_id"]] = customer
        self.pool.add(customer["entity_id"])
        self.books[customer["entity_id"]] = []
        return customer

    def new_address(self, customer: Row, created: datetime) -> Row:
        """An address-book entry, in the country of the customer's other addresses."""
        book = self.books[customer["entity_id"]]
        country = self.addresses[book[0]]["country_id"] if book else self._pick(STORE_COUNTRIES[customer["store_id"]])
        address = new_row("customer_address_entity", {
            "entity_id": self._next_id("customer_address_entity"), "increment_id": None,
            "parent_id": customer["entity_id"], "created_at": created, "updated_at": created,
            "is_active": 1, **self.address_fields(country, customer["firstname"], customer["lastname"])})
        self.addresses[address["entity_id"]] = address
        self.address_pool.add(address["entity_id"])
        self.books[customer["entity_id"]].append(address["entity_id"])
        return address

    def new_subscriber(self, store_id: int, customer_id: int, email: str, status: int, at: datetime) -> Row:
        subscriber = new_row("newsletter_subscriber", {
            "subscriber_id": self._next_id("newsletter_subscriber"), "store_id": store_id,
            "change_status_at": at, "customer_id": customer_id, "subscriber_email": email,
            "subscriber_status": status, "subscriber_confirm_code": f"{self._rng.getrandbits(128):032x}"})
        self.subscribers[subscriber["subscriber_id"]] = subscriber
        if customer_id:
            self.subscriber_of[customer_id] = subscriber["subscriber_id"]
        if status == 1:
            self.subscribed.add(subscriber["subscriber_id"])
        return subscriber

    def seed(self) -> None:
        """Customers registered over the last three years, their address books and
        newsletter subscriptions, plus guest subscribers."""
        for _ in range(self._shop.scaled(2000)):
            created = self._shop.past(1, 3 * 365)
            customer = self.new_customer(created)
            if self._chance(0.8):
                for _ in range(1 + self._chance(0.15)):
                    self.new_address(customer, created)
                first = self.books[customer["entity_id"]][0]
                customer["default_billing"] = customer["default_shipping"] = first
            age_s = int((self._shop.start - created).total_seconds()) - SNAPSHOT_MS // 1000
            customer["updated_at"] = created + timedelta(seconds=self._int(0, max(0, age_s)))
            if self._chance(0.28):
                status = 1 if self._chance(0.8) else 3
                self.new_subscriber(customer["store_id"], customer["entity_id"], customer["email"], status,
                                    customer["updated_at"])
        for _ in range(self._shop.scaled(150)):
            store_id = self._weighted(STORE_CHOICE)
            country = self._pick(STORE_COUNTRIES[store_id])
            email = self.as_typed(self.email(*self.person(), country))
            status = self._weighted(GUEST_SUBSCRIBER_STATUS)
            self.new_subscriber(store_id, 0, email, status, self._shop.past(1, 2 * 365))

    def register(self) -> None:
        """Sign-up: customer, address, then the customer again with its default
        addresses, in one transaction (same commit second, consecutive offsets)."""
        now = self._stamp()
        customer = self.new_customer(now)
        self._emit("customer_entity", customer)
        if self._chance(0.85):
            address = self.new_address(customer, now)
            self._emit("customer_address_entity", address)
            customer["default_billing"] = customer["default_shipping"] = address["entity_id"]
            self._emit("customer_entity", customer)
        if self._chance(0.3):
            self._emit("newsletter_subscriber", self.new_subscriber(
                customer["store_id"], customer["entity_id"], customer["email"], 1, now))

    def update(self) -> None:
        """An account edit: name, group, date of birth or gender, email or prefix."""
        customer = self.pick()
        if customer is None:
            return
        roll = self._random()
        if roll < 0.35:
            customer["lastname"] = self._pick(LAST_NAMES)
        elif roll < 0.55:
            customer["group_id"] = self._pick([g for g in (1, 2, 3) if g != customer["group_id"]])
        elif roll < 0.75:
            if customer["dob"] is None:
                customer["dob"] = date(self._int(1950, 2006), self._int(1, 12), self._int(1, 28))
            else:
                customer["gender"] = self._pick((1, 2, 3))
        elif roll < 0.9:
            self._change_email(customer)
        else:
            customer["prefix"] = self._pick(("Mr.", "Ms.", "Dr.", None))
        customer["updated_at"] = self._stamp()
        self._emit("customer_entity", customer)

    def _change_email(self, customer: Row) -> None:
        """A new address for the account; Magento copies it to the subscription."""
        country = self.country_of(customer)
        email = self.email(customer["firstname"], customer["lastname"], country)
        if (customer["website_id"], email) in self.taken_emails:
            return
        self.taken_emails.discard((customer["website_id"], customer["email"].lower()))
        self.taken_emails.add((customer["website_id"], email))
        customer["email"] = email
        subscriber = self.subscribers.get(self.subscriber_of.get(customer["entity_id"], 0))
        if subscriber is not None:
            subscriber["subscriber_email"] = email
            self._emit("newsletter_subscriber", subscriber)

    def update_address(self) -> None:
        """A new telephone number, street or company in an address book."""
        address = self.addresses.get(self.address_pool.pick(self._random()))
        if address is None:
            return
        fresh = self.address_fields(address["country_id"], address["firstname"], address["lastname"])
        key = self._pick(("telephone", "street", "company"))
        address[key] = fresh[key]
        address["updated_at"] = self._stamp()
        self._emit("customer_address_entity", address)

    # ---------------------------------------------------------- newsletter

    def subscribe(self) -> None:
        """A customer (re)subscribes, or a guest signs up, often unconfirmed (status 4)."""
        now = self._stamp()
        customer = self.pick() if self._chance(0.5) else None
        if customer is not None:
            subscriber = self.subscribers.get(self.subscriber_of.get(customer["entity_id"], 0))
            if subscriber is None:
                subscriber = self.new_subscriber(customer["store_id"], customer["entity_id"], customer["email"], 1, now)
            elif subscriber["subscriber_status"] == 1:
                return
            else:
                subscriber.update(subscriber_status=1, change_status_at=now)
                self.subscribed.add(subscriber["subscriber_id"])
            self._emit("newsletter_subscriber", subscriber)
            return
        store_id = self._weighted(STORE_CHOICE)
        country = self._pick(STORE_COUNTRIES[store_id])
        email = self.as_typed(self.email(*self.person(), country))
        status = 4 if self._chance(0.4) else 1
        subscriber = self.new_subscriber(store_id, 0, email, status, now)
        self._emit("newsletter_subscriber", subscriber)
        if status == 4 and self._chance(0.6):
            self._after(120, 1800, partial(self._confirm_subscription, subscriber["subscriber_id"]))

    def _confirm_subscription(self, subscriber_id: int) -> None:
        subscriber = self.subscribers.get(subscriber_id)
        if subscriber is None or subscriber["subscriber_status"] != 4:
            return
        subscriber.update(subscriber_status=1, change_status_at=self._stamp())
        self.subscribed.add(subscriber_id)
        self._emit("newsletter_subscriber", subscriber)

    def unsubscribe(self) -> None:
        subscriber_id = self.subscribed.pick(self._random())
        if subscriber_id is None:
            return
        self.subscribed.discard(subscriber_id)
        subscriber = self.subscribers[subscriber_id]
        subscriber.update(subscriber_status=3, change_status_at=self._stamp())
        self._emit("newsletter_subscriber", subscriber)

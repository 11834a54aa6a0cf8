"""What the demo newsroom publishes: its outlets, articles and the script of what happens.

The outlets are invented and so is every article; they are written like wire and trade
coverage of the three topics of the shipped configuration (DeepSeek, chip export controls,
Stargate), with one story about something else entirely. The copy of a seed article is made
at run time from the shipped seed files (see monitor.demo).
"""

from __future__ import annotations

from monitor.demo.newsroom import Article, Event, Feed, Outlet

DAILY = Outlet("daily", "The Daily Demo")
WIRE = Outlet(
    "wire",
    "Pacific Wire",
    section="stories",
    style="wire",
    tracking="?utm_source=rss&utm_medium=feed",
)
OUTLETS = {outlet.key: outlet for outlet in (DAILY, WIRE)}

FEEDS = (
    Feed(
        "daily-demo-tech",
        "daily",
        "/daily/feeds/technology.xml",
        "The Daily Demo: Technology",
        newest_first=True,
    ),
    Feed(
        "daily-demo-world",
        "daily",
        "/daily/feeds/world.xml",
        "The Daily Demo: World",
        newest_first=True,
    ),
    Feed("pacific-wire", "wire", "/wire/rss.xml", "Pacific Wire: Top stories", newest_first=True),
)

TOPICS: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("deepseek", ("DeepSeek", "Liang Wenfeng", "DeepSeek-R1", "DeepSeek-V3", "High-Flyer"), ()),
    (
        "chip-exports",
        (
            "export controls",
            "export control",
            "chip export",
            "chip exports",
            "chip ban",
            "AI diffusion rule",
            "Entity List",
            "Bureau of Industry and Security",
            "H20",
            "H800",
        ),
        (),
    ),
    (
        "stargate",
        ("Stargate", "Stargate project", "Stargate AI"),
        ("Stargate SG-1", "Stargate Atlantis", "Stargate Universe"),
    ),
)

# ---------------------------------------------------------------- on the front page at start

DEEPSEEK_PRICES = Article(
    slug="deepseek-raises-api-prices",
    title="DeepSeek raises API prices as demand for its reasoning model outstrips capacity",
    byline="Mei Lin",
    paragraphs=(
        "DeepSeek will raise the price developers pay to use its flagship reasoning model "
        "through its API from next month, the Hangzhou-based start-up told customers in an "
        "email on Monday, blaming a surge in demand that has left its servers struggling at "
        "peak hours.",
        "The increase roughly doubles the cost of output tokens during the busiest part of the "
        "Chinese working day, while an off-peak discount for requests made overnight will stay "
        "in place, according to a copy of the email seen by The Daily Demo.",
        "Developers who build on the model said the change was unwelcome but unlikely to drive "
        "them away. Even at the higher rate, several said, the service remains cheaper than "
        "comparable models from American rivals, particularly for long coding and mathematics "
        "tasks.",
        "The company has said repeatedly that it is short of computing power. Analysts say the "
        "start-up has to ration the processors it has between research and paying customers, "
        "and that price rises are a quicker fix than new hardware.",
        "DeepSeek did not respond to a request for comment. Its app remains among the most "
        "downloaded in China, although daily usage has fallen from the peak it reached in the "
        "weeks after its launch.",
    ),
)

CHIP_RULE = Article(
    slug="us-widens-chip-export-controls",
    title="US widens AI chip export controls to more countries in Asia",
    byline="Daniel Okafor",
    paragraphs=(
        "The US Commerce Department on Tuesday widened its export controls on advanced "
        "artificial intelligence chips, requiring licences for shipments to data centres in "
        "Malaysia and Thailand and adding 140 companies to the Entity List, according to a "
        "rule published by the Bureau of Industry and Security.",
        "Officials said the measures were meant to close routes by which restricted processors "
        "had reached China through intermediaries, a concern that grew after several cases in "
        "which servers bought in South-East Asia turned up in Chinese data centres.",
        "Chipmakers said they were studying the rule. Shares in the largest designers of AI "
        "accelerators fell in early trading, and an industry group warned that the licence "
        "requirement would slow the data centres that American cloud companies are building "
        "in the region.",
        "The rule takes effect in 30 days. Companies already holding licences for the two "
        "countries will be allowed to complete shipments agreed before Tuesday, the department "
        "said.",
    ),
)

STARGATE_ABILENE = Article(
    slug="stargate-abilene-first-halls",
    title="Stargate's first campus in Abilene brings its initial data halls online",
    byline="Rosa Delgado",
    paragraphs=(
        "The first buildings of the Stargate data centre campus in Abilene, Texas, have begun "
        "running customer workloads, the companies behind the project said on Wednesday, less "
        "than a year after construction started on the site.",
        "The campus is planned to grow to eight buildings drawing about 1.2 gigawatts of power "
        "once it is complete. The partners said the first two buildings were operating and "
        "that the remaining six would be finished in stages over the next 18 months.",
        "Around 1,700 people are working on the construction site, and the campus is expected "
        "to employ about 350 permanent staff when it is fully running, according to the "
        "developer.",
        "Local officials have welcomed the investment, but some residents have raised concerns "
        "about water use and about the load the site will put on the Texas grid during summer "
        "heat waves.",
        "The partners have said they intend to build several more campuses of a similar size "
        "in the United States and are studying possible sites abroad.",
    ),
)

NIGHT_TRAMS = Article(
    slug="harbour-city-night-trams",
    title="Harbour city votes to keep its night trams running through the winter",
    byline="Tom Reyes",
    paragraphs=(
        "Councillors in the harbour city voted on Monday evening to keep the night tram service "
        "running through the winter months, reversing a plan to suspend it from November to "
        "save money.",
        "The service, which runs every 20 minutes between midnight and five in the morning on "
        "two lines, carried more passengers this summer than in any year since it started, "
        "according to figures presented to the council.",
        "Hospital workers, cleaners and bar staff had campaigned against the suspension, "
        "saying that the last buses leave too early for people who finish work late.",
        "The council said the cost would be met from parking revenue. A review of the service "
        "will be published in the spring.",
    ),
)

# ---------------------------------------------------------------- what happens next

DEEPSEEK_MODEL = Article(
    slug="deepseek-open-weight-model",
    title="DeepSeek releases open-weight model it says rivals the best closed systems",
    byline="Mei Lin",
    paragraphs=(
        "DeepSeek released a new version of its open-weight language model on Thursday, "
        "saying in a technical report that it matched the leading closed models from American "
        "companies on standard tests of reasoning, coding and mathematics.",
        "The model can be downloaded and run by anyone under a permissive licence, continuing "
        "the approach that made the Chinese start-up's earlier releases popular with "
        "researchers and with companies that want to host models on their own servers.",
        "The report said the model was trained on a cluster of H800 processors, a version of "
        "Nvidia's chips designed to comply with earlier US rules, and that training cost a "
        "fraction of what its rivals are believed to spend.",
        "Independent researchers cautioned that benchmark results published by developers are "
        "often hard to reproduce, and said they would run their own evaluations over the "
        "coming days.",
    ),
)

WIRE_ENTITY_LIST = Article(
    slug="entity-list-malaysia-thailand",
    title=(
        "Commerce Department adds 140 companies to Entity List, tightens AI chip export "
        "rules for Malaysia and Thailand"
    ),
    byline="Pacific Wire staff",
    paragraphs=(
        "WASHINGTON (Pacific Wire) - The Commerce Department added 140 companies to the Entity "
        "List on Tuesday and said exporters would need a licence to ship advanced AI chips to "
        "data centres in Malaysia and Thailand, its latest step to keep cutting-edge "
        "processors out of China.",
        "Most of the companies added are in China, with others in Singapore and the United Arab "
        "Emirates. The department said some had acted as fronts for buyers that are barred "
        "from purchasing American technology directly.",
        "Malaysia's trade ministry said it would seek talks with Washington. Investment in data "
        "centres in the southern state of Johor has boomed over the past two years, much of it "
        "from American and Chinese cloud companies.",
        "The largest US chip designer, whose processors are the main target of the controls, "
        "said it complied with all applicable rules and was reviewing the new requirements.",
    ),
)

WIRE_H20 = Article(
    slug="h20-licence-applications",
    title="Chipmaker seeks licences to resume H20 sales to Chinese customers, sources say",
    byline="Pacific Wire staff",
    paragraphs=(
        "SANTA CLARA (Pacific Wire) - The designer of the H20 accelerator has applied for "
        "licences to resume sales of the chip to customers in China, two people familiar with "
        "the matter said, weeks after a new licensing requirement halted its shipments.",
        "The H20 was developed specifically for the Chinese market after earlier restrictions "
        "barred the company's most powerful products there, and it had become one of its best "
        "selling chips in the country.",
        "The people, who asked not to be named because the applications are not public, said "
        "the company expected an answer within weeks. The company declined to comment.",
    ),
)

WIRE_DEEPSEEK_MODEL = Article(
    slug="deepseek-unveils-open-model",
    title="China's DeepSeek unveils open-weight model, claims parity with US leaders",
    byline="Pacific Wire staff",
    paragraphs=(
        "HANGZHOU (Pacific Wire) - Chinese artificial intelligence start-up DeepSeek on "
        "Thursday released a new open-weight model that it said performs as well as the "
        "leading closed models from US companies on reasoning, coding and mathematics "
        "benchmarks.",
        "In a technical report posted alongside the release, the company said it had trained "
        "the model on H800 processors and kept its costs low by changing how the model "
        "routes each request to smaller specialised parts of the network.",
        "Shares in several US chip and cloud companies dipped in early trading in Asia as "
        "investors weighed what cheaper training could mean for demand for data centres.",
        "The model is free to download. Outside researchers said they had begun testing it and "
        "expected to publish results within days.",
    ),
)

WIRE_STARGATE_ABROAD = Article(
    slug="stargate-sites-abroad",
    title="Stargate partners shortlist Nordic sites for their first campus abroad",
    byline="Pacific Wire staff",
    paragraphs=(
        "OSLO (Pacific Wire) - The partners in the Stargate project have shortlisted three "
        "sites in Norway and Finland for their first data centre campus outside the United "
        "States, people involved in the talks said on Friday.",
        "Cheap hydroelectric power and a cool climate that reduces the energy needed to keep "
        "servers from overheating have made the Nordic countries a favoured location for large "
        "data centres.",
        "A decision is expected before the end of the year. The partners declined to comment on "
        "the shortlist but said they continued to look at locations in several countries.",
    ),
)


# The seed copy runs on the wire: the first shipped seed, under another headline and with a
# syndication line added (monitor.demo builds it from the seed file).
SEED_COPY_SLUG = "deepseek-app-store-syndicated"
SEED_COPY_FEED = "pacific-wire"
SEED_COPY_TITLE = "DeepSeek's assistant overtakes ChatGPT as top free app on Apple's US App Store"
SEED_COPY_BYLINE = "Partner content"
SEED_COPY_FOOTER = (
    "This article first appeared on a partner site and is republished here with permission."
)

# On the front pages at start, with the feed that lists each.
AT_START: tuple[tuple[Article, str], ...] = (
    (DEEPSEEK_PRICES, "daily-demo-tech"),
    (CHIP_RULE, "daily-demo-tech"),
    (STARGATE_ABILENE, "daily-demo-tech"),
    (NIGHT_TRAMS, "daily-demo-world"),
)

SCRIPT: tuple[Event, ...] = (
    Event(
        "publish",
        DEEPSEEK_MODEL.slug,
        "The Daily Demo publishes a new story about a DeepSeek model",
        article=DEEPSEEK_MODEL,
        feed="daily-demo-tech",
    ),
    Event(
        "headline",
        CHIP_RULE.slug,
        "The Daily Demo rewrites the headline of its export-controls story",
        text="US adds 140 companies to Entity List as it widens AI chip export controls",
    ),
    Event(
        "publish",
        WIRE_ENTITY_LIST.slug,
        "Pacific Wire covers the same export-controls rule",
        article=WIRE_ENTITY_LIST,
        feed="pacific-wire",
    ),
    Event(
        "replace",
        STARGATE_ABILENE.slug,
        "The Daily Demo corrects a number in its Stargate story",
        old="about 350 permanent staff",
        text="about 150 permanent staff",
    ),
    Event(
        "publish",
        WIRE_H20.slug,
        "Pacific Wire publishes a scoop about H20 licences",
        article=WIRE_H20,
        feed="pacific-wire",
    ),
    Event(
        "drop",
        DEEPSEEK_PRICES.slug,
        "The Daily Demo cuts a paragraph from its DeepSeek prices story",
        paragraph=3,
    ),
    Event(
        "takedown",
        WIRE_H20.slug,
        "Pacific Wire takes its H20 story down (the page now answers 404)",
    ),
    Event(
        "publish",
        WIRE_DEEPSEEK_MODEL.slug,
        "Pacific Wire covers the new DeepSeek model too",
        article=WIRE_DEEPSEEK_MODEL,
        feed="pacific-wire",
    ),
    Event(
        "append",
        DEEPSEEK_MODEL.slug,
        "The Daily Demo adds an update to its DeepSeek model story",
        text=(
            "Update: Researchers at two universities said on Friday that their first tests "
            "broadly confirmed the coding results in the report, but found weaker performance "
            "on long documents."
        ),
    ),
    Event(
        "publish",
        WIRE_STARGATE_ABROAD.slug,
        "Pacific Wire reports where Stargate may build abroad",
        article=WIRE_STARGATE_ABROAD,
        feed="pacific-wire",
    ),
)

"""Real United States geography: the 50 states with their facts and five non-capital cities each.

City names are unique across the world, never equal to a capital or a state name, and never
contain a state's name (so no city reveals its state by a shared token, e.g. "Kansas City").
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class State:
    name: str
    abbreviation: str  # USPS postal code
    capital: str
    region: str  # US Census Bureau region
    nickname: str
    cities: tuple[str, ...]  # five real non-capital cities


# fmt: off
STATES: tuple[State, ...] = (
    State("Alabama", "AL", "Montgomery", "South", "Yellowhammer State", ("Birmingham", "Huntsville", "Mobile", "Tuscaloosa", "Hoover")),
    State("Alaska", "AK", "Juneau", "West", "Last Frontier", ("Anchorage", "Fairbanks", "Sitka", "Ketchikan", "Wasilla")),
    State("Arizona", "AZ", "Phoenix", "West", "Grand Canyon State", ("Tucson", "Mesa", "Chandler", "Scottsdale", "Flagstaff")),
    State("Arkansas", "AR", "Little Rock", "South", "Natural State", ("Fayetteville", "Fort Smith", "Springdale", "Jonesboro", "Conway")),
    State("California", "CA", "Sacramento", "West", "Golden State", ("Los Angeles", "San Diego", "San Jose", "San Francisco", "Fresno")),
    State("Colorado", "CO", "Denver", "West", "Centennial State", ("Aurora", "Fort Collins", "Boulder", "Pueblo", "Lakewood")),
    State("Connecticut", "CT", "Hartford", "Northeast", "Constitution State", ("Bridgeport", "New Haven", "Stamford", "Waterbury", "Norwalk")),
    State("Delaware", "DE", "Dover", "South", "First State", ("Wilmington", "Middletown", "Smyrna", "Seaford", "Lewes")),
    State("Florida", "FL", "Tallahassee", "South", "Sunshine State", ("Miami", "Orlando", "Tampa", "Jacksonville", "Pensacola")),
    State("Georgia", "GA", "Atlanta", "South", "Peach State", ("Savannah", "Macon", "Athens", "Valdosta", "Marietta")),
    State("Hawaii", "HI", "Honolulu", "West", "Aloha State", ("Hilo", "Kailua", "Kapolei", "Lahaina", "Waipahu")),
    State("Idaho", "ID", "Boise", "West", "Gem State", ("Nampa", "Meridian", "Pocatello", "Caldwell", "Twin Falls")),
    State("Illinois", "IL", "Springfield", "Midwest", "Prairie State", ("Chicago", "Naperville", "Joliet", "Rockford", "Peoria")),
    State("Indiana", "IN", "Indianapolis", "Midwest", "Hoosier State", ("Fort Wayne", "Evansville", "South Bend", "Carmel", "Bloomington")),
    State("Iowa", "IA", "Des Moines", "Midwest", "Hawkeye State", ("Cedar Rapids", "Davenport", "Sioux City", "Dubuque", "Ames")),
    State("Kansas", "KS", "Topeka", "Midwest", "Sunflower State", ("Wichita", "Overland Park", "Olathe", "Lawrence", "Salina")),
    State("Kentucky", "KY", "Frankfort", "South", "Bluegrass State", ("Louisville", "Lexington", "Bowling Green", "Owensboro", "Covington")),
    State("Louisiana", "LA", "Baton Rouge", "South", "Pelican State", ("New Orleans", "Shreveport", "Lafayette", "Lake Charles", "Monroe")),
    State("Maine", "ME", "Augusta", "Northeast", "Pine Tree State", ("Bangor", "Lewiston", "Biddeford", "Brunswick", "Saco")),
    State("Maryland", "MD", "Annapolis", "South", "Old Line State", ("Baltimore", "Frederick", "Rockville", "Gaithersburg", "Hagerstown")),
    State("Massachusetts", "MA", "Boston", "Northeast", "Bay State", ("Worcester", "Cambridge", "Lowell", "Brockton", "Quincy")),
    State("Michigan", "MI", "Lansing", "Midwest", "Great Lakes State", ("Detroit", "Grand Rapids", "Ann Arbor", "Flint", "Kalamazoo")),
    State("Minnesota", "MN", "Saint Paul", "Midwest", "North Star State", ("Minneapolis", "Duluth", "Mankato", "Moorhead", "Bemidji")),
    State("Mississippi", "MS", "Jackson", "South", "Magnolia State", ("Gulfport", "Biloxi", "Hattiesburg", "Tupelo", "Vicksburg")),
    State("Missouri", "MO", "Jefferson City", "Midwest", "Show Me State", ("Saint Louis", "Independence", "Joplin", "Branson", "Saint Joseph")),
    State("Montana", "MT", "Helena", "West", "Treasure State", ("Billings", "Missoula", "Bozeman", "Butte", "Great Falls")),
    State("Nebraska", "NE", "Lincoln", "Midwest", "Cornhusker State", ("Omaha", "Fremont", "Kearney", "North Platte", "Hastings")),
    State("Nevada", "NV", "Carson City", "West", "Silver State", ("Las Vegas", "Reno", "Henderson", "Sparks", "Elko")),
    State("New Hampshire", "NH", "Concord", "Northeast", "Granite State", ("Manchester", "Nashua", "Portsmouth", "Keene", "Derry")),
    State("New Jersey", "NJ", "Trenton", "Northeast", "Garden State", ("Newark", "Paterson", "Camden", "Hoboken", "Princeton")),
    State("New Mexico", "NM", "Santa Fe", "West", "Land of Enchantment", ("Albuquerque", "Las Cruces", "Roswell", "Farmington", "Gallup")),
    State("New York", "NY", "Albany", "Northeast", "Empire State", ("Buffalo", "Rochester", "Syracuse", "Yonkers", "Ithaca")),
    State("North Carolina", "NC", "Raleigh", "South", "Tar Heel State", ("Charlotte", "Greensboro", "Durham", "Asheville", "Boone")),
    State("North Dakota", "ND", "Bismarck", "Midwest", "Peace Garden State", ("Fargo", "Grand Forks", "Minot", "Williston", "Dickinson")),
    State("Ohio", "OH", "Columbus", "Midwest", "Buckeye State", ("Cleveland", "Cincinnati", "Toledo", "Akron", "Dayton")),
    State("Oklahoma", "OK", "Oklahoma City", "South", "Sooner State", ("Tulsa", "Norman", "Lawton", "Edmond", "Stillwater")),
    State("Oregon", "OR", "Salem", "West", "Beaver State", ("Portland", "Eugene", "Beaverton", "Medford", "Corvallis")),
    State("Pennsylvania", "PA", "Harrisburg", "Northeast", "Keystone State", ("Philadelphia", "Pittsburgh", "Allentown", "Erie", "Scranton")),
    State("Rhode Island", "RI", "Providence", "Northeast", "Ocean State", ("Warwick", "Cranston", "Pawtucket", "Newport", "Woonsocket")),
    State("South Carolina", "SC", "Columbia", "South", "Palmetto State", ("Greenville", "Spartanburg", "Myrtle Beach", "Rock Hill", "Sumter")),
    State("South Dakota", "SD", "Pierre", "Midwest", "Mount Rushmore State", ("Sioux Falls", "Rapid City", "Aberdeen", "Brookings", "Watertown")),
    State("Tennessee", "TN", "Nashville", "South", "Volunteer State", ("Memphis", "Knoxville", "Chattanooga", "Clarksville", "Murfreesboro")),
    State("Texas", "TX", "Austin", "South", "Lone Star State", ("Dallas", "Houston", "San Antonio", "Fort Worth", "El Paso")),
    State("Utah", "UT", "Salt Lake City", "West", "Beehive State", ("Provo", "Ogden", "Orem", "Logan", "Moab")),
    State("Vermont", "VT", "Montpelier", "Northeast", "Green Mountain State", ("Burlington", "Rutland", "Barre", "Bennington", "Brattleboro")),
    State("Virginia", "VA", "Richmond", "South", "Old Dominion", ("Norfolk", "Arlington", "Alexandria", "Roanoke", "Lynchburg")),
    State("Washington", "WA", "Olympia", "West", "Evergreen State", ("Seattle", "Spokane", "Tacoma", "Bellevue", "Yakima")),
    State("West Virginia", "WV", "Charleston", "South", "Mountain State", ("Huntington", "Morgantown", "Parkersburg", "Wheeling", "Beckley")),
    State("Wisconsin", "WI", "Madison", "Midwest", "Badger State", ("Milwaukee", "Green Bay", "Kenosha", "Racine", "Oshkosh")),
    State("Wyoming", "WY", "Cheyenne", "West", "Equality State", ("Casper", "Laramie", "Gillette", "Sheridan", "Cody")),
)
# fmt: on


def check_geography() -> None:
    """Fail loudly if the table breaks the uniqueness rules the corpus relies on."""
    assert len(STATES) == 50, len(STATES)
    names = [s.name for s in STATES]
    capitals = [s.capital for s in STATES]
    cities = [c for s in STATES for c in s.cities]
    assert len(set(names)) == 50 and len(set(capitals)) == 50
    assert len(set(s.abbreviation for s in STATES)) == 50
    assert len(set(cities)) == len(cities), "duplicate city name"
    state_words = {w for n in names for w in n.split() if w not in ("New", "North", "South", "West")}
    for city in cities:
        assert city not in capitals and city not in names, city
        assert not (set(city.split()) & state_words), f"{city} contains a state's name"

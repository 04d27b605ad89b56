"""The registry's sentences, in Chinese and English."""

from services.common import i18n

i18n.register(
    {
        "area.root_not_allowed": (
            "上级区划不存在;只有平台管理员可以新建顶级区划。",
            "The parent area does not exist; only a platform admin creates a root area.",
        ),
        "area.exists": ("该区划代码已存在。", "That area code exists already."),
        "resident.already_registered": (
            "该身份证号已登记为本平台的现住居民,同一人只能在一处登记;如已迁居,请先办理迁出。",
            "This ID number is already a current resident; move them out first.",
        ),
        "resident.not_current": ("该居民已迁出,不能修改。", "The resident has moved out."),
        "building.has_residents": (
            "楼栋内仍有现住居民,不能删除。",
            "The building still has current residents.",
        ),
        "tag.exists": ("该标签已存在。", "That tag exists already."),
        "unit.exists": (
            "该统一社会信用代码的单位已登记。",
            "A unit with that credit code is registered already.",
        ),
        "import.kind_unknown": (
            "导入类型应为 residents、households、buildings 或 units。",
            "kind must be residents, households, buildings or units.",
        ),
        "import.file_unreadable": (
            "文件无法读取,请上传 .xlsx 或 .csv(UTF-8 或 GBK/GB18030 编码)文件。",
            "The file cannot be read; upload .xlsx, or .csv in UTF-8 or GBK/GB18030.",
        ),
        "import.columns_missing": (
            "文件缺少必需的列:{columns}。请使用导入模板。",
            "The file lacks required columns: {columns}. Use the template.",
        ),
        "import.empty": ("文件中没有数据行。", "The file has no data rows."),
        "import.limit_exceeded": (
            "文件超出限制 {limit}:{value},上限 {maximum}。请拆分后分批导入。",
            "The file exceeds the {limit} limit: {value}, at most {maximum}. Split it.",
        ),
        "import.not_finished": ("导入尚未完成。", "The import has not finished."),
        "import.buildings_without_location": (
            "本次导入新建了 {count} 个没有坐标的楼栋:{names}。它们不在任何网格内,"
            "其居民不会同步到网格员的手机;请在楼栋导入或楼栋页面补充经纬度。",
            "This import created {count} buildings without a location: {names}. They lie "
            "in no grid cell, so their residents reach no grid worker's phone; add their "
            "coordinates.",
        ),
    }
)

i18n.register(
    {
        "area_not_found": ("区划不存在或不在管辖范围内。", "No such area in your scope."),
        "not_a_community": ("应为社区(村)级区划代码。", "Must be a community-level area."),
        "area_exists": ("该区划代码已存在。", "That area code exists already."),
        "not_found": ("记录不存在或不在管辖范围内。", "Not found in your scope."),
        "tag_unknown": ("未定义的标签:{tags}。", "Unknown tags: {tags}."),
        "tag_unknown_known": (
            "未定义的标签:{tag}。可用的标签:{known}。",
            "Unknown tag: {tag}. Known tags: {known}.",
        ),
        "tag_exists": ("该标签已存在。", "That tag exists already."),
        "already_registered": (
            "该身份证号已登记为现住居民。",
            "Already registered as a current resident.",
        ),
        "unit_exists": ("该信用代码的单位已登记。", "A unit with that code is registered."),
        "uscc_category_mismatch": (
            "信用代码显示的机构类别为 {implied},与填写的类别不一致,请核对。",
            "The credit code implies {implied}; check the declared category.",
        ),
        "residence_type_invalid": (
            "居住类型应为 户籍、常住 或 流动。",
            "Residence type is 户籍, 常住 or 流动.",
        ),
        "residence_type_not_floating": (
            "标签写明流动人口,居住类型却为「{value}」,请核对是哪一个。",
            "The tags say 流动人口 (floating population) but the residence type says "
            "“{value}”; check which is right.",
        ),
        "gender_invalid": ("性别应为 男 或 女。", "Gender is 男 or 女."),
        "gender_mismatch": (
            "与身份证号显示的性别不一致,请核对身份证号与性别。",
            "Does not match the gender the ID number gives; check both.",
        ),
        "date_invalid": (
            "「{value}」不是日期,应如 2024-03-01、2024/3/1 或 2024年3月1日。",
            "“{value}” is not a day: write it like 2024-03-01 or 2024/3/1.",
        ),
        "number_invalid": ("应为数字。", "Must be a number."),
        "category_invalid": ("单位类别无效。", "Unknown unit category."),
        "duplicate_in_file": (
            "与文件中第 {row} 行的身份证号重复。",
            "Same ID number as row {row} of this file.",
        ),
        "registered_elsewhere": (
            "该身份证号已在其他社区登记为现住居民。",
            "This ID number is a current resident elsewhere.",
        ),
        "building_unknown_near": (
            "本社区没有楼栋「{name}」,相近的有:{near}。请更正;确为新楼栋的,"
            "先导入楼栋(含坐标),或导入时勾选“新建楼栋”。",
            "The community has no building “{name}”; close ones: {near}. Correct it, or "
            "import the building first, or import with create_buildings=true.",
        ),
        "building_unknown_named": (
            "本社区没有楼栋「{name}」。请先导入楼栋(含坐标),或导入时勾选“新建楼栋”。",
            "The community has no building “{name}”. Import the building first, or import "
            "with create_buildings=true.",
        ),
    },
    field=True,
)

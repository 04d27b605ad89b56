"""The grid service's sentences, in Chinese and English."""

from services.common import i18n

i18n.register(
    {
        "cell.exists": ("该网格编码已存在。", "That cell code exists already."),
        "cell.overlaps": (
            "网格边界与已有网格重叠,请调整边界。",
            "The boundary overlaps another cell.",
        ),
        "cell.none_here": ("该位置不在任何网格内。", "No grid cell contains that point."),
        "case.outside_grid": (
            "事件位置不在任何网格内,请确认定位。",
            "The location is inside no grid cell.",
        ),
        "case.exists": ("该事件编号已存在。", "A case with that id exists already."),
        "visit.exists": ("该走访记录编号已存在。", "A visit with that id exists already."),
        "case.illegal_transition": (
            "事件当前为“{state_zh}”,不能“{action_zh}”;现在可以:{allowed_zh}。",
            "Action {action} is not allowed in status {state}; allowed now: {allowed}.",
        ),
        "case.not_your_step": (
            "“{action_zh}”由{who_zh}办理,您不能执行。",
            "Action {action} is taken by {who}, not by you.",
        ),
        "case.verifier_is_handler": (
            "核查须由处置人以外的人员进行。",
            "The check must be done by someone other than the handler.",
        ),
        "case.approver_is_requester": (
            "延期须由申请人以外的人员审批。",
            "An extension is approved by someone other than who asked.",
        ),
        "validation.in_future": ("时间不能晚于现在。", "That time has not come yet."),
        "validation.not_a_cell_member": (
            "只能派遣给该事件所在网格的网格员。",
            "Dispatch to a grid worker of the case's cell.",
        ),
        "sync.cursor_expired": (
            "同步游标已过期,请重新进行全量同步。",
            "The sync cursor has expired; start over with a full sync.",
        ),
    }
)

i18n.register(
    {
        "boundary_type": (
            "边界应为 GeoJSON Polygon 或 MultiPolygon。",
            "A Polygon or MultiPolygon.",
        ),
        "boundary_malformed": ("边界格式不正确。", "Malformed GeoJSON boundary."),
        "boundary_ring_unclosed": (
            "边界的每个环至少四个点,且首尾两点相同。",
            "Each ring needs four or more positions, the last one equal to the first.",
        ),
        "boundary_invalid": (
            "边界不是有效多边形(如自相交):{detail}。",
            "Invalid polygon: {detail}.",
        ),
        "cell_overlaps": ("与已有网格重叠。", "Overlaps another cell."),
        "cell_exists": ("该网格编码已存在。", "That cell code exists already."),
        "cell_code_invalid": (
            "网格编码应为社区代码加 {digits} 位序号。",
            "A cell code is the community code and {digits} digits.",
        ),
        "in_future_time": ("走访时间晚于现在。", "The visit's time is after now."),
        "not_a_cell_member": ("该人员不是本网格的网格员。", "Not a worker of this cell."),
        "not_a_grid_worker": ("用户 {user} 不是网格员。", "User {user} is not a grid worker."),
        "finding_unknown": ("未定义的走访发现:{tags}。", "Unknown findings: {tags}."),
        "category_unknown": ("事件类别不存在。", "No such case category."),
        "outside_grid": ("不在任何网格内。", "Inside no grid cell."),
        "photos_required": ("处置须至少附一张照片。", "Handling needs at least one photo."),
    },
    field=True,
)
